"""The Coalition Coordinator: objectives, formation on request and periodically, lifecycle, steering."""
