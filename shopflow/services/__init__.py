"""The service layer: the queries and commands the API, the web UI and the activities share,
one module per domain. Services take an engine (and settings where a policy applies) and plain
values; they never import the API, the UI or an activity module."""
