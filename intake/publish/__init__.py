"""Publish: the publishing package of a case (static HTML and the documents), ready to upload."""
