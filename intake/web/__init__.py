"""The staff review interface: server-rendered pages, downloads and a JSON API."""
