"""Logging to console and file; only rank 0 writes under distributed training."""
import logging
import sys

LOGGER_NAME = "rwsr"
_FORMAT = "%(asctime)s %(levelname)s: %(message)s"


def get_logger():
    return logging.getLogger(LOGGER_NAME)


def setup_logger(log_file=None, rank=0, level=logging.INFO):
    """Configure the project logger once; later calls replace the handlers."""
    logger = get_logger()
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    logger.propagate = False
    if rank != 0:
        logger.setLevel(logging.ERROR)
        logger.addHandler(logging.NullHandler())
        return logger
    logger.setLevel(level)
    formatter = logging.Formatter(_FORMAT, datefmt="%y-%m-%d %H:%M:%S")
    console = logging.StreamHandler(sys.stdout)
    console.setFormatter(formatter)
    logger.addHandler(console)
    if log_file is not None:
        file_handler = logging.FileHandler(log_file, mode="a")
        file_handler.setFormatter(formatter)
        logger.addHandler(file_handler)
    return logger
