"""Playback, queue and clock-sync fields. Thin: unpack the input, call the service, map."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, ParamSpec, TypeVar

import strawberry

from watchparty import errors
from watchparty.context import Info
from watchparty.gql.errors import (
    NotAllowed,
    NotAuthenticated,
    NotFound,
    PartyEndedError,
    RateLimited,
    ValidationError,
    to_error,
)
from watchparty.kit import clock
from watchparty.parties import playback, playback_queue, playback_reports
from watchparty.parties.errors import RevisionConflict as RevisionConflictProblem
from watchparty.parties.playback import Step
from watchparty.parties.playback_types import (
    AddToQueueInput,
    MoveQueueItemInput,
    PlaybackControlInput,
    PlaybackPayload,
    PlaybackState,
    PlayQueueItemInput,
    QueueItem,
    QueuePayload,
    RemoveFromQueueInput,
    ReportPlayerStateInput,
    ReportPlayerStatePayload,
    RevisionConflict,
    SeekInput,
    ServerTime,
    SetIgnoreWaitInput,
    SetIgnoreWaitPayload,
    SetPlaybackRateInput,
)
from watchparty.parties.service import Media

PlaybackResult = Annotated[
    PlaybackPayload
    | NotAuthenticated
    | NotAllowed
    | RevisionConflict
    | ValidationError
    | NotFound
    | PartyEndedError,
    strawberry.union("PlaybackResult"),
]
QueueResult = Annotated[
    QueuePayload | NotAuthenticated | NotAllowed | ValidationError | NotFound | PartyEndedError,
    strawberry.union("QueueResult"),
]
ReportPlayerStateResult = Annotated[
    ReportPlayerStatePayload
    | NotAuthenticated
    | NotAllowed
    | ValidationError
    | NotFound
    | RateLimited
    | PartyEndedError,
    strawberry.union("ReportPlayerStateResult"),
]
SetIgnoreWaitResult = Annotated[
    SetIgnoreWaitPayload
    | NotAuthenticated
    | NotAllowed
    | ValidationError
    | NotFound
    | PartyEndedError,
    strawberry.union("SetIgnoreWaitResult"),
]

P = ParamSpec("P")
R = TypeVar("R")


def playback_errors(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R | Any]]:
    """Like `returns_errors`, plus `RevisionConflict { current }`."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | Any:
        try:
            return await fn(*args, **kwargs)
        except RevisionConflictProblem as conflict:
            return RevisionConflict(
                code=conflict.code,  # type: ignore[arg-type]
                message=conflict.message,
                field=conflict.field,
                current=PlaybackState.from_payload(conflict.extra["playback"]),
            )
        except errors.Problem as problem:
            return to_error(problem)

    return wrapper


async def _control(info: Info, party_id: str, step: Step, expected: int | None) -> PlaybackPayload:
    ctx = info.context
    viewer_id = await ctx.require_viewer_id()
    async with ctx.state.unit_of_work() as uow:
        payload = await playback.control(uow, viewer_id, party_id, step, expected=expected)
    return PlaybackPayload(playback=PlaybackState.from_payload(payload))


def _queue(result: playback_queue.QueueResult) -> QueuePayload:
    return QueuePayload(
        queue=[QueueItem.from_payload(item) for item in result.queue],
        playback=PlaybackState.from_payload(result.playback),
    )


@strawberry.type
class PlaybackQueries:
    @strawberry.field(
        description="One NTP-style clock sample (SYNC.md); works over HTTP and the WebSocket."
    )
    def server_time(self, client_time_ms: float) -> ServerTime:
        return ServerTime(client_time_ms=client_time_ms, server_received_ms=clock.received_ms())


@strawberry.type
class PlaybackMutations:
    @strawberry.mutation(description="Start or resume, anchored a lead time in the future.")
    @playback_errors
    async def play(self, info: Info, input: PlaybackControlInput) -> PlaybackResult:
        return await _control(info, input.party_id, playback.play_step, input.expected_revision)

    @strawberry.mutation(description="Pause where the playhead is now.")
    @playback_errors
    async def pause(self, info: Info, input: PlaybackControlInput) -> PlaybackResult:
        return await _control(info, input.party_id, playback.pause_step, input.expected_revision)

    @strawberry.mutation(description="Jump to a position of the current item.")
    @playback_errors
    async def seek(self, info: Info, input: SeekInput) -> PlaybackResult:
        step = playback.seek_step(input.position_seconds)
        return await _control(info, input.party_id, step, input.expected_revision)

    @strawberry.mutation(description="Change the playback rate (0.25 to 2).")
    @playback_errors
    async def set_playback_rate(self, info: Info, input: SetPlaybackRateInput) -> PlaybackResult:
        step = playback.rate_step(input.rate)
        return await _control(info, input.party_id, step, input.expected_revision)

    @strawberry.mutation(description="Play a queue item from its start.")
    @playback_errors
    async def play_queue_item(self, info: Info, input: PlayQueueItemInput) -> PlaybackResult:
        step = playback.play_item_step(input.item_id)
        return await _control(info, input.party_id, step, input.expected_revision)

    @strawberry.mutation(description="The next queue item (it plays if the current one was).")
    @playback_errors
    async def skip_to_next(self, info: Info, input: PlaybackControlInput) -> PlaybackResult:
        step = playback.skip_step(+1)
        return await _control(info, input.party_id, step, input.expected_revision)

    @strawberry.mutation(description="The previous queue item (it plays if the current one was).")
    @playback_errors
    async def skip_to_previous(self, info: Info, input: PlaybackControlInput) -> PlaybackResult:
        step = playback.skip_step(-1)
        return await _control(info, input.party_id, step, input.expected_revision)

    @strawberry.mutation(description="Add a URL to the queue (at `position`, else at the end).")
    @playback_errors
    async def add_to_queue(self, info: Info, input: AddToQueueInput) -> QueueResult:
        ctx = info.context
        viewer = await ctx.require_viewer()
        media = Media(
            url=input.media.url,
            video_id=input.media.video_id,
            title=input.media.title,
            duration_seconds=input.media.duration_seconds,
        )
        async with ctx.state.unit_of_work() as uow:
            result = await playback_queue.add_to_queue(
                uow, viewer.id, input.party_id, media, input.position
            )
        return _queue(result)

    @strawberry.mutation(description="Remove an item; removing the current one moves on.")
    @playback_errors
    async def remove_from_queue(self, info: Info, input: RemoveFromQueueInput) -> QueueResult:
        ctx = info.context
        viewer = await ctx.require_viewer()
        async with ctx.state.unit_of_work() as uow:
            result = await playback_queue.remove_from_queue(
                uow, viewer.id, input.party_id, input.item_id
            )
        return _queue(result)

    @strawberry.mutation(description="Move an item to another place in the queue.")
    @playback_errors
    async def move_queue_item(self, info: Info, input: MoveQueueItemInput) -> QueueResult:
        ctx = info.context
        viewer = await ctx.require_viewer()
        async with ctx.state.unit_of_work() as uow:
            result = await playback_queue.move_queue_item(
                uow, viewer.id, input.party_id, input.item_id, input.position
            )
        return _queue(result)

    @strawberry.mutation(
        description="A member's player state: records drift and drives the buffering wait. "
        "Never fanned out; at most 10 a second per member."
    )
    @playback_errors
    async def report_player_state(
        self, info: Info, input: ReportPlayerStateInput
    ) -> ReportPlayerStateResult:
        received_ms = clock.received_ms()  # the arrival, not after validation
        ctx = info.context
        viewer = await ctx.require_viewer()
        report = playback_reports.Report(
            state=input.state,
            position_seconds=input.position_seconds,
            client_time_ms=input.client_time_ms,
            received_ms=received_ms,
            rtt_ms=input.rtt_ms,
            item_id=input.item_id,
        )
        async with ctx.state.unit_of_work() as uow:
            outcome = await playback_reports.report_player_state(
                uow, viewer.id, input.party_id, report
            )
        return ReportPlayerStatePayload(drift_ms=outcome.drift_ms, revision=outcome.revision)

    @strawberry.mutation(
        description="Stop (or resume) counting a member for the buffering wait: yourself, or "
        "anyone as host or co-host."
    )
    @playback_errors
    async def set_ignore_wait(self, info: Info, input: SetIgnoreWaitInput) -> SetIgnoreWaitResult:
        ctx = info.context
        viewer = await ctx.require_viewer()
        async with ctx.state.unit_of_work() as uow:
            payload = await playback_reports.set_ignore_wait(
                uow, viewer.id, input.party_id, input.user_id, input.ignore
            )
        return SetIgnoreWaitPayload(
            user_id=input.user_id,
            ignore_wait=input.ignore,
            playback=PlaybackState.from_payload(payload),
        )
