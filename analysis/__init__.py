"""Usage analysis: the figures of the trail (who is active, what they do, which errors
they meet), kept as rollups of what is stored, with an API and pages with plots."""
