"""Read a message: MIME tree, charsets, HTML bodies as text, large bodies kept out of memory."""
