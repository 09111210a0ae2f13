"""Running conversation turns: the use case behind the conversation worker."""
