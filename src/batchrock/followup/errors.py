"""Why a follow-up command cannot do what it was asked; the message is for the user.

FollowupError        also: the storage named cannot be opened (no such data dir)
 ├── JobNotReady       the job has not ended (retry-failed needs its final errors)
 ├── OutputMismatch    an output file does not line up with its input (the input changed after the job ran)
 ├── NothingToRetry    the job has no failed record that can run again
 └── InputUnusable     estimate's input cannot be read as a batch input, or the model is unknown
"""

from __future__ import annotations


class FollowupError(Exception):
    pass


class JobNotReady(FollowupError):
    pass


class OutputMismatch(FollowupError):
    pass


class NothingToRetry(FollowupError):
    pass


class InputUnusable(FollowupError):
    pass
