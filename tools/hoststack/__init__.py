"""The whole stack as host processes on 127.0.0.1: `make dev` and the end-to-end tests."""
