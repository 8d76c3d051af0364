// SIGINT and SIGTERM for long runs (`match`, `index build|add`): the first
// signal asks the run to stop (StopRequested turns true: no new file is
// started, the files in flight finish, everything written stays whole, and
// the command prints what it did and how to continue); a second one ends the
// process at once, as the signal's default would.
#pragma once

namespace celmatch {

// Installs the handlers (idempotent). Commands call it once they have
// something to keep.
void InstallStopHandlers();

// True once SIGINT or SIGTERM arrived after InstallStopHandlers.
bool StopRequested();

// The signal that asked to stop (SIGINT, SIGTERM), 0 when none.
int StopSignal();

// For tests and for callers that stop for their own reasons.
void RequestStop(int signal_number);

}  // namespace celmatch
