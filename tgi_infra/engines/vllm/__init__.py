"""The vllm engine plug-in."""
