"""Timing, memory, environment capture and process isolation: everything a runtime must not do itself."""
