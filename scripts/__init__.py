"""Developer entry points: environment, training, starting and stopping the services."""
