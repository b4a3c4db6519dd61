"""Model hosts: in-process backends run in a supervised child process (see ``supervisor``)."""

from batchrock.backends.host.supervisor import HostedBackend

__all__ = ["HostedBackend"]
