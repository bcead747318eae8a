"""Domain errors. Services raise them; the web and CLI boundaries turn them into a 4xx page,
a JSON error or a non-zero exit, with the message as written here (it is shown to people)."""


class DomainError(Exception):
    status_code = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidAmount(DomainError):
    pass


class InvalidInput(DomainError):
    pass


class NotFound(DomainError):
    status_code = 404


class UnknownDrive(NotFound):
    pass


class UnknownChapter(NotFound):
    pass


class Conflict(DomainError):
    status_code = 409


class DatabaseUnavailable(DomainError):
    status_code = 503
