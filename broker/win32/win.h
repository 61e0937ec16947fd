/*
 * broker/win32/win.h - helpers shared by the Windows platform files
 * (the files of broker/win32/) and the tests under Wine (tests/wine/).
 *
 * Everything here is Windows-only; the portable core never sees it. Win32
 * error codes and HRESULTs are converted into dob/err.h codes here, in one
 * place (win_util.c), and nowhere else.
 */
#ifndef DOB_WIN_H
#define DOB_WIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <windows.h>

#include "dob/msg.h"
#include "platform.h"

/* ------------------------------------------------------------ win_util.c */

/* UTF-8 -> UTF-16, allocated with dob_malloc (dob_free it). Invalid UTF-8 is
 * refused (-DOB_EINVAL), never replaced. */
int win_utf8_to_wide(const char *s, wchar_t **out);
/* UTF-16 -> UTF-8, allocated with dob_malloc. Unpaired surrogates are
 * refused (-DOB_EINVAL). */
int win_wide_to_utf8(const wchar_t *w, char **out);
/* Text of a Win32 error code (FormatMessage, system language, no trailing
 * newline), written into buf and returned. Never fails: "error N" when the
 * system has no text. */
const char *win_strerror(DWORD err, char *buf, size_t len);
/* The project code for a Win32 error (ERROR_* from GetLastError). */
int win_error_to_err(DWORD err);
/* The project code for an HRESULT (FACILITY_WIN32 ones go through
 * win_error_to_err; E_OUTOFMEMORY -> -DOB_ENOMEM; E_INVALIDARG ->
 * -DOB_EINVAL; E_ACCESSDENIED -> -DOB_EACCES; any other failure ->
 * -DOB_EBACKEND; success -> 0). */
int win_hresult_to_err(HRESULT hr);

/* Service mode: run the next COM calls of this thread as the pipe client
 * `who` (its token kept by the pipe server, win_client_token). Needs the
 * client to have connected with SECURITY_IMPERSONATION (libdobclient asks
 * for identification unless told otherwise): -DOB_EACCES, logged, when it
 * did not; -DOB_ENOTFOUND when its connection is gone. Pair with
 * win_revert_client() on the same thread, always. With the job manager's
 * proxy blanket set to EOAC_DYNAMIC_CLOAKING, BITS/DO see the client as
 * the caller, so the job is the client's and its files are written with
 * the client's rights. */
int win_impersonate_client(const struct dob_identity *who);
/* RevertToSelf, or abort: never go on as the client. */
void win_revert_client(void);

/* ------------------------------------------------------------ sd_win32.c */

/* Client rights on the pipe (users' apps, ALL APPLICATION PACKAGES and each
 * listed package SID) on the pipe: FILE_GENERIC_READ | FILE_GENERIC_WRITE
 * without FILE_CREATE_PIPE_INSTANCE (== FILE_APPEND_DATA, 0x4):
 *   READ_CONTROL 0x20000 | SYNCHRONIZE 0x100000 | FILE_READ_DATA 0x1 |
 *   FILE_WRITE_DATA 0x2 | FILE_READ_EA 0x8 | FILE_WRITE_EA 0x10 |
 *   FILE_READ_ATTRIBUTES 0x80 | FILE_WRITE_ATTRIBUTES 0x100  = 0x0012019B
 * (0x0012019F would be the two generic masks; bit 0x4 removed.) */
#define WIN_PIPE_CLIENT_ACCESS 0x0012019Bu
/* Full access (SYSTEM): FILE_ALL_ACCESS spelled as specific rights so that
 * what is read back equals what was set. */
#define WIN_PIPE_FULL_ACCESS 0x001F01FFu

/* The SIDs a pipe DACL is made of (each dob_malloc'd; logon and service may
 * be NULL). */
struct win_pipe_sids {
	char *user;    /* the process's user */
	char *logon;   /* its logon session, S-1-5-5-X-Y (NULL: none in the token) */
	char *service; /* its service SID, S-1-5-80-... (NULL: not a service, or
			* no SID type set) */
};
/* This process's SIDs (from its token). */
int win_self_pipe_sids(struct win_pipe_sids *out);
void win_pipe_sids_clear(struct win_pipe_sids *s);
/* The SDDL of the pipe's security descriptor for a mode (sd_win32.c says
 * every ACE and why):
 *   per-user: O:U D:P(A;;FA;;;SY)(A;;RC;;;S-1-3-4)(A;;0x12019b;;;U)(A;;0x4;;;L)
 *   service:  O:U D:P(A;;FA;;;SY)(A;;RC;;;S-1-3-4)(A;;0x12019f;;;S)(A;;0x12019b;;;IU)
 * (U user, L logon SID or U, S service SID or U; an ACE naming SYSTEM is
 * left out, SY has one) and, only when allow_sandboxed:
 *   (A;;0x12019b;;;AC)(A;;0x12019b;;;<package SID>)...S:(ML;;NW;;;LW)
 * package_sids (NULL-terminated, may be NULL) must each be an AppContainer
 * package SID (S-1-15-2-...); anything else is refused with -DOB_EINVAL
 * (nothing from a caller is pasted into SDDL unchecked), and so are package
 * SIDs given without allow_sandboxed. *out is allocated with dob_malloc. */
int win_pipe_sddl_for(const struct win_pipe_sids *ids, bool service_mode, bool allow_sandboxed,
		      const char *const *package_sids, wchar_t **out);
/* The same for this process's own SIDs. */
int win_pipe_sddl(bool service_mode, bool allow_sandboxed, const char *const *package_sids,
		  wchar_t **out);
/* The same as a self-relative security descriptor (LocalFree it). */
int win_pipe_security(bool service_mode, bool allow_sandboxed, const char *const *package_sids,
		      PSECURITY_DESCRIPTOR *out, char *errbuf, size_t errlen);
/* The SID string of this process's user / of a token's user (dob_free it). */
int win_self_user_sid(char **out);
int win_token_user_sid(HANDLE token, char **out);
/* Owner-only security descriptor for the state directory (LocalFree it):
 * D:P(A;OICI;FA;;;<broker user SID>). */
int win_private_dir_security(PSECURITY_DESCRIPTOR *out);

/* ------------------------------------------------------------ ident_win32.c */

/* Who is on the other end of a connected pipe instance, from the OS only
 * (ident_win32.c says how): the pipe client's token through impersonation,
 * or the client process's token where impersonation yields our own token
 * (Wine). connected: when the connection was taken (pid reuse check of the
 * fallback). Fills *out (strings owned, dob_malloc'd: dob_identity_clear it)
 * and *token (an identification-level impersonation token of the client,
 * kept for path checks; CloseHandle it). On any failure returns an error,
 * writes why into why[] and leaves *out zeroed: the connection is then
 * refused. */
int win_pipe_client_identity(HANDLE pipe, const FILETIME *connected, struct dob_identity *out,
			     HANDLE *token, char *why, size_t whylen);
/* Identity fields from a token opened with TOKEN_QUERY (and TOKEN_DUPLICATE
 * when it is a primary token); pid is left 0. Used by the above; exposed for
 * tests. */
int win_token_identity(HANDLE token, struct dob_identity *out, char *why, size_t whylen);
/* Is tok this process's own: the same user, logon session and integrity
 * level, and either (as_rights false) the same AppContainer or none on
 * both - a token the pipe gave back as the server's own (Wine) - or
 * (as_rights true) no AppContainer, not sandboxed and no privilege the
 * process lacks - a client whose calls the broker may make as itself. */
bool win_token_is_self(HANDLE tok, bool as_rights);

/* ------------------------------------------------------------ path_win32.c */

/* Client tokens of live connections, keyed by pid (process-wide, locked),
 * so that plat_check_path_writable(who, path) can find the token of `who`.
 * On success the registry owns token (closed by unregister). */
int win_token_register(uint32_t pid, const char *user_sid, HANDLE token, void **cookie);
void win_token_unregister(void *cookie); /* NULL-safe */
/* A duplicate of the token kept for who's live connection (CloseHandle it):
 * impersonation level when the client allowed it, else identification.
 * -DOB_ENOTFOUND when who has no live connection. */
int win_client_token(const struct dob_identity *who, HANDLE *out);
/* Service mode, before the COM calls that create a client's job: makes
 * this thread act as `who`. 0 with *impersonating true: the thread
 * impersonates the client (win_impersonate_client; undo with
 * win_revert_client on this thread, always). 0 with *impersonating false:
 * the client's token is the broker's own -- same user, logon session,
 * integrity, no AppContainer, no more privilege (Wine hands every client
 * the server's token; on Windows a client running as the service's own
 * account) -- so the broker's calls are already the client's. Otherwise
 * an error and nothing changed: -DOB_ENOTFOUND (no live connection of
 * who), -DOB_EACCES (the client allowed identification only), or
 * SetThreadToken's error. */
int win_act_as_client(const struct dob_identity *who, bool *impersonating);
/* plat_loop_free: waits until every plat_check_paths under way (in this
 * process) has posted its result, so none posts to a freed loop. */
void win_path_checks_drain(void);

/* ------------------------------------------------------------ service_win32.c */

/* Creates dir with the service state directory's security (O:SY
 * D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)), or sets that security on an
 * existing directory (-DOB_EEXIST, with errbuf, for a file, a junction or
 * a link). plat_service_state_dir uses it on %ProgramData%\dobroker;
 * exposed for tests. */
int win_service_dir_secure(const wchar_t *dir, char *errbuf, size_t errlen);

/* ------------------------------------------------------------ loop_win32.c */

/* Completion keys on the loop's port. */
enum win_key {
	WIN_KEY_IO = 1,   /* overlapped pipe I/O: lpOverlapped is &op->ov of a struct win_op */
	WIN_KEY_POST = 2, /* plat_post: lpOverlapped carries the message pointer, never dereferenced */
	WIN_KEY_STOP = 3, /* plat_loop_stop wake-up: no payload */
};

/* One overlapped operation; the loop dispatches its completion to fn. */
struct win_op {
	OVERLAPPED ov; /* first member: the completion gives back &ov */
	HANDLE h;      /* borrowed: the handle the I/O was issued on */
	/* Called on the loop thread with the Win32 result (0 or ERROR_*). */
	void (*fn)(struct win_op *op, DWORD err, DWORD bytes);
	bool synth;     /* queued by win_loop_complete: result in synth_err */
	DWORD synth_err;
};

HANDLE win_loop_port(struct plat_loop *l);
/* Associates a handle with the loop's port (key WIN_KEY_IO). */
int win_loop_attach(struct plat_loop *l, HANDLE h);
/* Queues a completion for op as if its I/O had finished with err/bytes. */
int win_loop_complete(struct plat_loop *l, struct win_op *op, DWORD err, DWORD bytes);

/* ------------------------------------------------------------ pipe_win32.c */

struct win_pipe_server;
/* Called by loop_win32.c. */
int win_pipe_listen(struct plat_loop *l, const struct plat_listen_opts *o,
		    struct win_pipe_server **out, char *errbuf, size_t errlen);
/* After each batch of completions: replaces waiting instances that could not
 * be created before. Returns a wait bound in ms (-1 none). */
int64_t win_pipe_maintain(struct win_pipe_server *s);
/* Cancels every I/O (listening and connected instances); returns the number
 * of operations still in flight. plat_loop_free then drains the port until
 * win_pipe_in_flight() is 0 and calls win_pipe_free. */
void win_pipe_shutdown(struct win_pipe_server *s);
size_t win_pipe_in_flight(const struct win_pipe_server *s);
void win_pipe_free(struct win_pipe_server *s);
const struct plat_handlers *win_loop_handlers(struct plat_loop *l);

/* ------------------------------------------------------------ signal_win32.c */

/* Stops the loop registered by plat_handle_signals, or remembers the request
 * when none is registered yet (then plat_handle_signals stops at once).
 * Safe from any thread (console control and service control handlers). */
void win_request_stop(void);
/* plat_loop_free: the loop is going away, stop requests no longer reach it. */
void win_signal_forget(struct plat_loop *l);

#endif
