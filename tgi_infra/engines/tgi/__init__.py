"""The tgi engine plug-in."""
