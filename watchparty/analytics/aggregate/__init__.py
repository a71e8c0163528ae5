"""Aggregation (issue 13): the raw `analytics_events` turned into the tables dashboards read,
incrementally from a watermark per scope (`run.py`), as `AnalyticsJob` runs (`jobs.py`).

What each figure is (a "viewer" is the user, else the anonymous id):
- Party (`party.py`; the party's events are the server's carrying its `party_id`, and client
  events carrying it from users the server saw join or come online there: anybody can send any
  `partyId`, so strangers' and anonymous visitors' client events never count for a party):
  unique viewers: distinct viewers with `party.online`, `party.join` or any counted client event
  of the party; peak viewers: the most viewers online at once, from `party.online`/
  `party.offline` (a viewer is online after its last online event until an offline one; repeats
  change nothing); watch seconds: the sum of `player.heartbeat` `watchedSeconds` (each clamped
  to 0..60; average per viewer = watch seconds / unique viewers, computed by the reader); chat
  messages (`chat.message`), reactions (`reaction.send`); buffering events
  (`player.buffering_start`) and buffering seconds (`player.buffering_end` `durationMs`, each
  clamped to 0..10 min); drift: `player.report` `abs(driftMs)`, reports counted in
  `DRIFT_BUCKETS_MS` buckets and p50/p90/p99 (linear interpolation, PostgreSQL's
  percentile_cont); first/last event times.
  Minutes (only minutes with activity): joins/leaves = viewers coming online / going offline
  in the minute, viewers = online at the minute's end (carried from the last minute with
  presence events), chat, reactions, buffering starts.
  Hot spots: `reaction.send` by `position_seconds` bucket (`POSITION_BUCKET_SECONDS`), with the
  video when all of the bucket's reactions named the same one.
- Video (`video.py`; the video's events are those carrying its `video_id`), per UTC day:
  views (`video.view`), unique viewers (any event of the video that day), watch seconds
  (heartbeats, as above), completions (`player.complete`); all time, per position bucket:
  viewers (distinct viewers with a heartbeat there), plays (heartbeats there: plays - viewers
  are re-watches), skips (forward `player.seek`s: every bucket strictly between the bucket of
  `fromSeconds` and the bucket of `toSeconds`).
- User per UTC day (`user.py`): watch seconds, parties hosted (distinct parties of its
  `party.create`), parties joined (distinct parties of its `party.join`), `chat.message`s,
  `reaction.send`s.
- System per UTC day (`system.py`): active users (distinct users with any event), new users
  (`users.created_at` that day), parties created (distinct parties of `party.create`), watch
  seconds, premium users (a snapshot, see `system.recompute`), events, buffering starts,
  `player.error`s.
A day is the event's `day` (the UTC day the client claimed: its partition), a minute the
minute of its corrected `occurred_at`. Keys whose party, video or user does not exist (deleted,
or an id a client made up) are skipped. Positions outside 0..24 h and non-numeric properties
are ignored.
"""
