"""Training one model: its settings (``config``), the fitting loop (``loop``), the run folder's crash-safe
writes and checks (``run_folder``) and the learning-rate schedules (``schedules``)."""
