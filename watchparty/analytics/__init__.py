"""Analytics (issue 13): events from clients (`trackEvents`, the beacon) and from the server
(`watchparty.tracking`), stored append-only, aggregated by ARQ jobs with a watermark, read by
dashboards (`party.analytics`, `video.analytics`, `me.stats`, `systemStats`) and exported by jobs.

Built on everything else: the domains record their events through the floor's
`watchparty.tracking` (a registration made by `registry.py` points it at this domain's store),
never by importing this package.
"""
