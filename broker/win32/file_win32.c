/*
 * broker/win32/file_win32.c - the journal's files, the state directory and
 * the default locations, on Win32 (UTF-8 paths in, UTF-16 to the system).
 *
 * Errors: ERROR_DISK_FULL / ERROR_HANDLE_DISK_FULL -> -DOB_ENOSPC, missing
 * file or directory -> -DOB_ENOTFOUND, access/sharing -> -DOB_EACCES, any
 * other failure of a write -> -DOB_EIO (win_error_to_err).
 *
 * The journal file is opened with FILE_SHARE_READ | FILE_SHARE_DELETE (a
 * reader may look at it; it may be renamed or deleted). Windows (and Wine)
 * still refuse MoveFileEx(REPLACE_EXISTING) over a file that is open, so
 * the journal closes its handle before it replaces the file. A write that fails half way is
 * cut back to where it began (best effort), so a retry after the disk has
 * room appends after whole records only.
 */
#include <stdio.h>
#include <string.h>

#include "win32/win.h"

#include "log.h"
#include "dob/alloc.h"
#include "dob/err.h"
#include "platform.h"

#define MAX_IO_CHUNK (1u << 30)

struct plat_file {
	HANDLE h; /* owned */
};

static int io_err(DWORD e)
{
	int r = win_error_to_err(e);
	if (r == -DOB_ENOSPC)
		return r;
	return -DOB_EIO;
}

static int path_err(DWORD e)
{
	int r = win_error_to_err(e);
	return r ? r : -DOB_EIO;
}

int plat_mkdir_private(const char *dir)
{
	wchar_t *w = NULL;
	int r = win_utf8_to_wide(dir, &w);
	if (r < 0)
		return r;
	if (w[0] == 0) {
		dob_free(w);
		return -DOB_EINVAL;
	}
	for (wchar_t *p = w; *p; p++)
		if (*p == L'/')
			*p = L'\\';
	size_t n = wcslen(w);
	while (n > 1 && w[n - 1] == L'\\' && w[n - 2] != L':')
		w[--n] = 0;

	DWORD a = GetFileAttributesW(w);
	if (a != INVALID_FILE_ATTRIBUTES) {
		/* An existing directory is used as it is: re-applying an ACL to
		 * a directory the user named could damage one that is not ours. */
		dob_free(w);
		return (a & FILE_ATTRIBUTE_DIRECTORY) ? 0 : -DOB_EEXIST;
	}
	/* Parents with default security (skip "X:\" and "\\server\share\"). */
	wchar_t *start = w;
	if (w[0] == L'\\' && w[1] == L'\\') {
		start = wcschr(w + 2, L'\\');
		start = start ? wcschr(start + 1, L'\\') : NULL;
	} else if (w[1] == L':' && w[2] == L'\\') {
		start = w + 2;
	}
	for (wchar_t *p = start ? wcschr(start + 1, L'\\') : NULL; p; p = wcschr(p + 1, L'\\')) {
		*p = 0;
		if (!CreateDirectoryW(w, NULL) && GetLastError() != ERROR_ALREADY_EXISTS) {
			DWORD e = GetLastError();
			char msg[256];
			log_error("state directory: cannot create a parent of %s: %s", dir,
				  win_strerror(e, msg, sizeof(msg)));
			dob_free(w);
			return path_err(e);
		}
		*p = L'\\';
	}
	PSECURITY_DESCRIPTOR sd = NULL;
	r = win_private_dir_security(&sd);
	if (r < 0) {
		dob_free(w);
		return r;
	}
	SECURITY_ATTRIBUTES sa = {sizeof(sa), sd, FALSE};
	if (!CreateDirectoryW(w, &sa) && GetLastError() != ERROR_ALREADY_EXISTS) {
		DWORD e = GetLastError();
		char msg[256];
		log_error("state directory: cannot create %s: %s", dir,
			  win_strerror(e, msg, sizeof(msg)));
		r = path_err(e);
	}
	LocalFree(sd);
	dob_free(w);
	return r;
}

int plat_file_open_append(const char *path, struct plat_file **out)
{
	*out = NULL;
	wchar_t *w = NULL;
	int r = win_utf8_to_wide(path, &w);
	if (r < 0)
		return r;
	struct plat_file *f = dob_calloc(1, sizeof(*f));
	if (!f) {
		dob_free(w);
		return -DOB_ENOMEM;
	}
	f->h = CreateFileW(w, GENERIC_READ | GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_DELETE,
			   NULL, OPEN_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
	dob_free(w);
	if (f->h == INVALID_HANDLE_VALUE) {
		DWORD e = GetLastError();
		dob_free(f);
		return path_err(e);
	}
	*out = f;
	return 0;
}

int plat_file_write(struct plat_file *f, const void *buf, size_t n, bool sync)
{
	LARGE_INTEGER zero = {.QuadPart = 0}, start;
	if (!SetFilePointerEx(f->h, zero, &start, FILE_END))
		return io_err(GetLastError());
	const uint8_t *p = buf;
	size_t left = n;
	DWORD e = 0;
	while (left > 0) {
		DWORD chunk = left > MAX_IO_CHUNK ? MAX_IO_CHUNK : (DWORD)left, done = 0;
		if (!WriteFile(f->h, p, chunk, &done, NULL)) {
			e = GetLastError();
			break;
		}
		if (done == 0) {
			e = ERROR_WRITE_FAULT;
			break;
		}
		p += done;
		left -= done;
	}
	if (e == 0 && sync && !FlushFileBuffers(f->h))
		e = GetLastError();
	if (e) {
		/* Best effort: no torn record stays behind for the next write. */
		if (SetFilePointerEx(f->h, start, NULL, FILE_BEGIN))
			SetEndOfFile(f->h);
		return io_err(e);
	}
	return 0;
}

int plat_file_truncate(struct plat_file *f, uint64_t len)
{
	LARGE_INTEGER at = {.QuadPart = (LONGLONG)len};
	if (len > (uint64_t)INT64_MAX)
		return -DOB_EINVAL;
	if (!SetFilePointerEx(f->h, at, NULL, FILE_BEGIN) || !SetEndOfFile(f->h))
		return io_err(GetLastError());
	return 0;
}

void plat_file_close(struct plat_file *f)
{
	if (!f)
		return;
	CloseHandle(f->h);
	dob_free(f);
}

int plat_file_read_all(const char *path, uint8_t **buf, size_t *len)
{
	*buf = NULL;
	*len = 0;
	wchar_t *w = NULL;
	int r = win_utf8_to_wide(path, &w);
	if (r < 0)
		return r;
	HANDLE h = CreateFileW(w, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
			       NULL, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
	dob_free(w);
	if (h == INVALID_HANDLE_VALUE)
		return path_err(GetLastError());
	LARGE_INTEGER size;
	if (!GetFileSizeEx(h, &size)) {
		r = io_err(GetLastError());
		CloseHandle(h);
		return r;
	}
	if (size.QuadPart < 0 || (uint64_t)size.QuadPart > SIZE_MAX / 2) {
		CloseHandle(h);
		return -DOB_ENOMEM;
	}
	size_t n = (size_t)size.QuadPart, got = 0;
	uint8_t *b = dob_malloc(n ? n : 1);
	if (!b) {
		CloseHandle(h);
		return -DOB_ENOMEM;
	}
	while (got < n) {
		DWORD chunk = n - got > MAX_IO_CHUNK ? MAX_IO_CHUNK : (DWORD)(n - got), done = 0;
		if (!ReadFile(h, b + got, chunk, &done, NULL)) {
			r = io_err(GetLastError());
			break;
		}
		if (done == 0)
			break; /* shrank while reading: return what is there */
		got += done;
	}
	CloseHandle(h);
	if (r < 0) {
		dob_free(b);
		return r;
	}
	*buf = b;
	*len = got;
	return 0;
}

struct plat_map {
	void *view;
	size_t n;
};

int plat_file_map(const char *path, const uint8_t **data, size_t *len, struct plat_map **out)
{
	if (!path || !data || !len || !out)
		return -DOB_EINVAL;
	*data = NULL;
	*len = 0;
	*out = NULL;
	struct plat_map *m = dob_calloc(1, sizeof(*m));
	if (!m)
		return -DOB_ENOMEM;
	wchar_t *w = NULL;
	int r = win_utf8_to_wide(path, &w);
	if (r < 0) {
		dob_free(m);
		return r;
	}
	HANDLE h = CreateFileW(w, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
			       NULL, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
	dob_free(w);
	if (h == INVALID_HANDLE_VALUE) {
		dob_free(m);
		return path_err(GetLastError());
	}
	LARGE_INTEGER size;
	if (!GetFileSizeEx(h, &size)) {
		r = io_err(GetLastError());
	} else if (size.QuadPart < 0 || (uint64_t)size.QuadPart > SIZE_MAX / 2) {
		r = -DOB_ENOMEM;
	} else if (size.QuadPart > 0) {
		/* The view keeps the section, the section keeps the file: both
		 * handles can go now. An empty file cannot be mapped: no view. */
		HANDLE sec = CreateFileMappingW(h, NULL, PAGE_READONLY, 0, 0, NULL);
		if (!sec) {
			r = io_err(GetLastError());
		} else {
			m->view = MapViewOfFile(sec, FILE_MAP_READ, 0, 0, 0);
			if (!m->view)
				r = GetLastError() == ERROR_NOT_ENOUGH_MEMORY ? -DOB_ENOMEM : -DOB_EIO;
			else
				m->n = (size_t)size.QuadPart;
			CloseHandle(sec);
		}
	}
	CloseHandle(h);
	if (r < 0) {
		dob_free(m);
		return r;
	}
	*data = m->view;
	*len = m->n;
	*out = m;
	return 0;
}

void plat_file_unmap(struct plat_map *m)
{
	if (!m)
		return;
	if (m->view)
		UnmapViewOfFile(m->view);
	dob_free(m);
}

int plat_file_replace(const char *tmp, const char *path)
{
	wchar_t *wt = NULL, *wp = NULL;
	int r = win_utf8_to_wide(tmp, &wt);
	if (r == 0)
		r = win_utf8_to_wide(path, &wp);
	if (r == 0 && !MoveFileExW(wt, wp, MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH))
		r = path_err(GetLastError());
	dob_free(wt);
	dob_free(wp);
	return r;
}

int plat_file_remove(const char *path)
{
	wchar_t *w = NULL;
	int r = win_utf8_to_wide(path, &w);
	if (r == 0 && !DeleteFileW(w))
		r = path_err(GetLastError());
	dob_free(w);
	return r;
}

/* %LOCALAPPDATA%\dobroker (for a service running as LocalSystem that is
 * C:\Windows\system32\config\systemprofile\AppData\Local\dobroker);
 * %USERPROFILE%\AppData\Local\dobroker when LOCALAPPDATA is not set. */
int plat_default_state_dir(char *buf, size_t len)
{
	wchar_t base[MAX_PATH + 1];
	const wchar_t *tail = L"\\dobroker";
	DWORD n = GetEnvironmentVariableW(L"LOCALAPPDATA", base, MAX_PATH);
	if (n == 0 || n >= MAX_PATH) {
		n = GetEnvironmentVariableW(L"USERPROFILE", base, MAX_PATH);
		if (n == 0 || n >= MAX_PATH)
			return -DOB_ENOTFOUND;
		tail = L"\\AppData\\Local\\dobroker";
	}
	if (wcslen(base) + wcslen(tail) > MAX_PATH)
		return -DOB_EINVAL;
	wcscat(base, tail);
	char *s = NULL;
	int r = win_wide_to_utf8(base, &s);
	if (r < 0)
		return r;
	if (strlen(s) + 1 > len)
		r = -DOB_EINVAL;
	else
		memcpy(buf, s, strlen(s) + 1);
	dob_free(s);
	return r;
}

const char *plat_default_endpoint(void)
{
	return "\\\\.\\pipe\\dobroker";
}

/* ------------------------------------------------------------ state lock */

/* LockFileEx on DIR\lock, on a byte far past the end of the file, so the
 * pid written at its start stays readable by the broker that is refused
 * (a locked range cannot be read through another handle). The lock goes
 * with the handle, so with the process, however it ends. The file is never
 * deleted while held; it is shared for reading and writing so the next
 * broker can open it to try. */
struct plat_lock {
	HANDLE h; /* owned */
};

#define LOCK_OFFSET_HIGH 1u /* byte 4 GiB: never part of the pid text */

int plat_dir_lock(const char *dir, struct plat_lock **out, char *errbuf, size_t errlen)
{
	char path[1024], held[32];
	wchar_t *w = NULL;
	OVERLAPPED ov;
	DWORD got = 0, e;
	int r;

	*out = NULL;
	if (!dir || snprintf(path, sizeof(path), "%s\\lock", dir) >= (int)sizeof(path)) {
		snprintf(errbuf, errlen, "state directory path too long");
		return -DOB_EINVAL;
	}
	if ((r = win_utf8_to_wide(path, &w)) < 0) {
		snprintf(errbuf, errlen, "bad path %s", path);
		return r;
	}
	HANDLE h = CreateFileW(w, GENERIC_READ | GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE,
			       NULL, OPEN_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
	dob_free(w);
	if (h == INVALID_HANDLE_VALUE) {
		char msg[256];
		e = GetLastError();
		snprintf(errbuf, errlen, "cannot open %s: %s", path, win_strerror(e, msg, sizeof(msg)));
		return path_err(e);
	}
	memset(&ov, 0, sizeof(ov));
	ov.OffsetHigh = LOCK_OFFSET_HIGH;
	if (!LockFileEx(h, LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &ov)) {
		e = GetLastError();
		if (e == ERROR_LOCK_VIOLATION || e == ERROR_IO_PENDING) {
			if (!ReadFile(h, held, sizeof(held) - 1, &got, NULL))
				got = 0;
			held[got] = 0;
			held[strcspn(held, "\r\n")] = 0;
			CloseHandle(h);
			snprintf(errbuf, errlen,
				 "state directory %s is in use by another broker (pid %s, holding %s)",
				 dir, held[0] ? held : "unknown", path);
			return -DOB_EEXIST;
		}
		char msg[256];
		CloseHandle(h);
		snprintf(errbuf, errlen, "cannot lock %s: %s", path, win_strerror(e, msg, sizeof(msg)));
		return win_error_to_err(e) ? win_error_to_err(e) : -DOB_EIO;
	}
	char pid[32];
	int n = snprintf(pid, sizeof(pid), "%lu\r\n", (unsigned long)GetCurrentProcessId());
	DWORD put = 0;
	if (SetFilePointer(h, 0, NULL, FILE_BEGIN) == INVALID_SET_FILE_POINTER || !SetEndOfFile(h) ||
	    !WriteFile(h, pid, (DWORD)n, &put, NULL) || put != (DWORD)n) {
		char msg[256];
		e = GetLastError();
		CloseHandle(h);
		snprintf(errbuf, errlen, "cannot write %s: %s", path, win_strerror(e, msg, sizeof(msg)));
		return io_err(e);
	}
	struct plat_lock *lk = dob_malloc(sizeof(*lk));
	if (!lk) {
		CloseHandle(h);
		snprintf(errbuf, errlen, "out of memory");
		return -DOB_ENOMEM;
	}
	lk->h = h;
	*out = lk;
	return 0;
}

void plat_dir_unlock(struct plat_lock *lk)
{
	if (!lk)
		return;
	/* Emptied while still held: the next broker finds no stale pid. */
	if (SetFilePointer(lk->h, 0, NULL, FILE_BEGIN) != INVALID_SET_FILE_POINTER)
		SetEndOfFile(lk->h);
	CloseHandle(lk->h);
	dob_free(lk);
}
