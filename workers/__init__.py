"""Dramatiq broker set-up, actors and the periodic schedule."""
