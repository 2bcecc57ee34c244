"""TaskTracker: the REST API behind the task-tracking single-page app."""
