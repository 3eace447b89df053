"""Running checks: the runner (timeouts, isolation, evaluation), the billing
database sandbox, the services check factories ask for, and the wiring that
holds what one configuration built."""
