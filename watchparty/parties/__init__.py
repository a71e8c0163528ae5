"""Parties: the data model, room codes and invite tokens, and the playback timeline."""
