/* The token fzctl passes to Connect: from a file or stdin, never from the
 * command line; wiped from memory when dropped. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define FZCTL_TOKEN_MAX 4096 /* bytes, as fz-tunnel --headless takes */

/* @len bytes at @raw less one trailing newline ("\n" or "\r\n"), if what
 * is left is 1 to FZCTL_TOKEN_MAX printable ASCII characters without
 * spaces. @what names the source in errors, which never hold the token.
 * Errors are FZ_CTL_ERROR, FZCTL_EXIT_BAD_TOKEN. */
char *fzctl_token_parse (const char *raw, gsize len, const char *what, GError **error);

/* Reads the token from @path, or stdin when @path is NULL or "-". A file
 * must be a regular file that neither its group nor others may read or
 * write (like ssh's keys); stdin must not be a terminal (the token would
 * show as it is typed). */
char *fzctl_token_read (const char *path, GError **error);

/* Wipes and frees; NULL is ignored. */
void fzctl_token_free (char *token);

/* g_autoptr (FzctlToken) token = fzctl_token_read (...); */
typedef char FzctlToken;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (FzctlToken, fzctl_token_free)

G_END_DECLS
