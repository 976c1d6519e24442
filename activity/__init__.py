"""The activity panel: an entity's audit records, newest first, as people read them."""
