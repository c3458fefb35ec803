"""The sglang engine plug-in."""
