"""The user's own training as a trial: a command run as a child process, or a function called in
this process."""
