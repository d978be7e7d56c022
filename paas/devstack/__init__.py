"""Dev and test only: an embedded AWS endpoint (moto) with a *simulated* ECS data plane.

Nothing here runs containers or serves traffic. moto stores what the control-plane APIs
are told; this package fakes what AWS's data plane would then do (tasks start or crash,
rollouts progress, targets turn healthy, ALB metrics appear), so the controller can be
exercised end to end through plain boto3. Product code must never import this package.

Entry points: ``emulator.start_emulator`` (``python -m paas.devstack.serve`` runs one alone,
e.g. with a warped ``paas.clock``), ``bootstrap.bootstrap_dev_environment``,
``profiles.set_profile`` / ``load_profiles``. Kept import-light: importing the package does
not import moto.
"""
