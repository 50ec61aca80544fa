"""The CPU demo: a small camera domain from scikit-image photos (`camera`)."""
