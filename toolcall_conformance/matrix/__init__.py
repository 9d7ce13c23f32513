"""The suite across vLLM releases and server configurations: one column each, what changed between them."""
