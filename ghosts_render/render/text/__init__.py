"""The text stage and its library: GPT-2 loading, role-format parsing, runs in lockstep."""
