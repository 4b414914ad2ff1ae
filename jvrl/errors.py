"""The one exception type for a user's mistake: a setting or an input to change.

Every check that refuses a run because of something the user controls (a
config field, a flag, a record file, the workdir) raises a `UserError` (or a
subclass) whose message is ONE line naming the setting or file and what to
change. `jvrl.main` prints that line as `jvrl: <message>` and exits with
status 2, never with a traceback; a library caller catches `UserError`.
"""


class UserError(ValueError):
  """A mistake in the settings or inputs; the message is one line saying what to change."""
