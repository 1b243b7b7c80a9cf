"""OS integration: lockdown steps and environment checks for Windows, macOS and Linux.

No Qt here: the UI (``lockdown/ui``) passes in what needs the GUI (the window id, the keyboard
grab, the Qt clipboard, the display count) as plain values and callables.

Entry points for the UI:

* :func:`lockdown.platform.factory.steps_for_current_os` -> steps for a
  :class:`lockdown.platform.base.StepRunner` (apply at exam start, restore in reverse at quit);
* :meth:`lockdown.platform.base.StepRunner.recover` with
  :func:`lockdown.platform.factory.crash_restorers_for_current_os` at every start, to repair what
  a crashed exam left applied;
* :func:`lockdown.platform.factory.checks_for_current_os` -> checks for
  :func:`lockdown.platform.checks.run_checks`, shown in the environment check view;
* :func:`lockdown.platform.processes.check_processes` every few seconds during the exam, and
  :func:`lockdown.platform.processes.terminate_processes` once the student agreed;
* :func:`lockdown.platform.checks.check_displays` when a screen is added or removed.

Modules: ``base`` (steps, runner, crash marker), ``steps`` (shared steps), ``checks`` (results,
policy, runner), ``vm`` / ``remote`` / ``processes`` (pure decisions), ``linux`` / ``windows`` /
``macos`` (the OS code), ``factory`` (the choice of OS).
"""
