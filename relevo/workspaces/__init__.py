"""Workspaces (one shop or site each) and their keys: a public write key that can only send
events, and a secret key for server-side reads and admin."""
