"""Search and discovery (issue 14): parties, videos and users in Typesense, kept in step by a
transactional outbox; the database answers the same `search` API when Typesense is not
configured or not answering. See README "Search"."""
