"""Errors a person reads. Each carries a complete sentence in `str(error)`."""


class AtelierError(Exception):
    """Base class: the message is meant for the person at the screen."""


class TransitionRefused(AtelierError):
    """A lifecycle move that the job's stage or a guard does not allow.

    `str(error)` reads like "Job J-0042 can't go to Ready: quality check has not passed."
    """

    def __init__(self, job_number: str, message: str):
        super().__init__(message)
        self.job_number = job_number


class StaleJob(AtelierError):
    """The job changed since it was read (optimistic version check); nothing was written."""

    def __init__(self, job_number: str):
        super().__init__(f"Job {job_number} was changed by someone else; reload it and try again. "
                         "Nothing was saved.")
        self.job_number = job_number


class NotFound(AtelierError):
    """A job, order or staff member that does not exist."""


class InvalidInput(AtelierError):
    """A value typed or uploaded that can't be used, with what was wrong and where."""


class DatabaseBusy(AtelierError):
    """The database file is held by another program (DuckDB allows one writer process)."""
