"""hub-github."""
