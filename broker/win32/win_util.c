/*
 * broker/win32/win_util.c - UTF-8 <-> UTF-16, the one place where Win32
 * error codes and HRESULTs become dob/err.h codes, and impersonation of a
 * pipe client for the COM workers (service mode: jobs created as the
 * client).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "win32/win.h"

#include "log.h"
#include "dob/alloc.h"
#include "dob/err.h"

int win_utf8_to_wide(const char *s, wchar_t **out)
{
	*out = NULL;
	if (!s)
		return -DOB_EINVAL;
	size_t len = strlen(s);
	if (len >= INT32_MAX)
		return -DOB_EINVAL;
	int n = 0;
	if (len > 0) {
		n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, (int)len, NULL, 0);
		if (n <= 0)
			return -DOB_EINVAL;
	}
	wchar_t *w = dob_malloc(((size_t)n + 1) * sizeof(*w));
	if (!w)
		return -DOB_ENOMEM;
	if (n > 0 && MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, (int)len, w, n) != n) {
		dob_free(w);
		return -DOB_EINVAL;
	}
	w[n] = 0;
	*out = w;
	return 0;
}

int win_wide_to_utf8(const wchar_t *w, char **out)
{
	*out = NULL;
	if (!w)
		return -DOB_EINVAL;
	size_t len = wcslen(w);
	if (len >= INT32_MAX / 4)
		return -DOB_EINVAL;
	int n = 0;
	if (len > 0) {
		n = WideCharToMultiByte(CP_UTF8, WC_ERR_INVALID_CHARS, w, (int)len, NULL, 0, NULL,
					NULL);
		if (n <= 0)
			return -DOB_EINVAL;
	}
	char *s = dob_malloc((size_t)n + 1);
	if (!s)
		return -DOB_ENOMEM;
	if (n > 0 && WideCharToMultiByte(CP_UTF8, WC_ERR_INVALID_CHARS, w, (int)len, s, n, NULL,
					 NULL) != n) {
		dob_free(s);
		return -DOB_EINVAL;
	}
	s[n] = 0;
	*out = s;
	return 0;
}

const char *win_strerror(DWORD err, char *buf, size_t len)
{
	if (!buf || len == 0)
		return "";
	buf[0] = 0;
	wchar_t w[512];
	DWORD n = FormatMessageW(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL,
				 err, 0, w, (DWORD)(sizeof(w) / sizeof(w[0])), NULL);
	while (n > 0 && (w[n - 1] == L'\r' || w[n - 1] == L'\n' || w[n - 1] == L' ' ||
			 w[n - 1] == L'.'))
		w[--n] = 0;
	int m = 0;
	if (n > 0)
		m = WideCharToMultiByte(CP_UTF8, 0, w, (int)n, buf, (int)(len > INT32_MAX ? INT32_MAX : len - 1),
					NULL, NULL);
	if (m <= 0)
		snprintf(buf, len, "error %lu", (unsigned long)err);
	else
		buf[m] = 0;
	return buf;
}

int win_error_to_err(DWORD err)
{
	switch (err) {
	case ERROR_SUCCESS:
		return 0;
	case ERROR_NOT_ENOUGH_MEMORY:
	case ERROR_OUTOFMEMORY:
	case ERROR_NO_SYSTEM_RESOURCES:
	case ERROR_COMMITMENT_LIMIT:
		return -DOB_ENOMEM;
	case ERROR_INVALID_PARAMETER:
	case ERROR_INVALID_NAME:
	case ERROR_BAD_PATHNAME:
	case ERROR_FILENAME_EXCED_RANGE:
	case ERROR_INVALID_SID:
	case ERROR_NO_UNICODE_TRANSLATION:
		return -DOB_EINVAL;
	case ERROR_FILE_NOT_FOUND:
	case ERROR_PATH_NOT_FOUND:
	case ERROR_INVALID_DRIVE:
	case ERROR_NOT_FOUND:
		return -DOB_ENOTFOUND;
	case ERROR_ACCESS_DENIED:
	case ERROR_PRIVILEGE_NOT_HELD:
	case ERROR_BAD_IMPERSONATION_LEVEL:
	case ERROR_CANNOT_IMPERSONATE:
	case ERROR_SHARING_VIOLATION:
	case ERROR_LOCK_VIOLATION:
	case ERROR_WRITE_PROTECT:
		return -DOB_EACCES;
	case ERROR_FILE_EXISTS:
	case ERROR_ALREADY_EXISTS:
	case ERROR_PIPE_BUSY:
		return -DOB_EEXIST;
	case ERROR_BROKEN_PIPE:
	case ERROR_NO_DATA:
	case ERROR_PIPE_NOT_CONNECTED:
	case ERROR_HANDLE_EOF:
	case ERROR_NETNAME_DELETED:
		return -DOB_ECLOSED;
	case WAIT_TIMEOUT:
	case ERROR_SEM_TIMEOUT:
	case ERROR_TIMEOUT:
		return -DOB_ETIMEDOUT;
	case ERROR_IO_PENDING:
		return -DOB_EAGAIN;
	case ERROR_DISK_FULL:
	case ERROR_HANDLE_DISK_FULL:
		return -DOB_ENOSPC;
	default:
		return -DOB_EIO;
	}
}

int win_hresult_to_err(HRESULT hr)
{
	if (SUCCEEDED(hr))
		return 0;
	if (HRESULT_FACILITY(hr) == FACILITY_WIN32)
		return win_error_to_err((DWORD)HRESULT_CODE(hr));
	switch (hr) {
	case E_OUTOFMEMORY:
		return -DOB_ENOMEM;
	case E_INVALIDARG:
	case E_POINTER:
		return -DOB_EINVAL;
	case E_ACCESSDENIED:
		return -DOB_EACCES;
	default:
		return -DOB_EBACKEND;
	}
}

int win_impersonate_client(const struct dob_identity *who)
{
	HANDLE tok = NULL;
	SECURITY_IMPERSONATION_LEVEL lvl = SecurityAnonymous;
	DWORD n = 0;
	if (win_client_token(who, &tok) < 0) {
		log_warn("impersonation: no live connection of pid %lu to act as",
			 (unsigned long)(who ? who->pid : 0));
		return -DOB_ENOTFOUND;
	}
	int r = 0;
	if (!GetTokenInformation(tok, TokenImpersonationLevel, &lvl, sizeof(lvl), &n) ||
	    lvl < SecurityImpersonation) {
		log_warn("impersonation: pid %lu connected with identification only (the client "
			 "must open the pipe with SECURITY_IMPERSONATION for its jobs to be created "
			 "as it)",
			 (unsigned long)who->pid);
		r = -DOB_EACCES;
	} else if (!SetThreadToken(NULL, tok)) {
		r = win_error_to_err(GetLastError());
		if (r == 0)
			r = -DOB_EACCES;
	}
	CloseHandle(tok);
	return r;
}

void win_revert_client(void)
{
	if (!RevertToSelf()) {
		/* Going on as the client would be the worst outcome. */
		log_error("RevertToSelf failed (error %lu); stopping",
			  (unsigned long)GetLastError());
		abort();
	}
}
