"""Runnable examples of `rx_auth`: interceptors built from reactivex operators."""
