/* FzDnsPattern: the address pattern of a DNS resource, and FzDnsName, a
 * query name split into labels.
 *
 * A pattern is a case-insensitive glob over labels (`.` separates them):
 *   `?`   one character within a label;
 *   `*`   inside a label, any run of characters (possibly none) of it;
 *         as a whole label, exactly one label;
 *   `**`  a whole label only: any number of labels, none included;
 *   a leading `*.` followed by a literal rest also matches the rest
 *         itself (`*.x.com` matches `x.com`), as `**.x.com` does.
 * Characters: ASCII letters, digits, `-`, `_`, and the wildcards; IDNs
 * must be given in punycode (`xn--...`). At most 253 characters and 127
 * labels of 1..63 characters; one trailing dot is ignored.
 *
 * Specificity is Firezone's order (connlib dns/pattern.rs): the two
 * lowercased patterns are compared from their last character backwards;
 * at the first difference
 *   - a literal character beats a wildcard, `?` beats `*`;
 *   - the end of a pattern or a `.` beats a wildcard;
 *   - two literal characters: the greater one comes first (a tie-break);
 *   - otherwise the shorter pattern comes first.
 * So among the patterns matching one name, the exact name wins, then the
 * pattern with the longest literal tail; `?` beats `*` beats `**`
 * (`?.x.com`, `*.x.com`, `**.x.com`). As in Firezone the last rule makes
 * `**.x.com` come before `a.**.x.com`. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define FZ_DNS_NAME_MAX   253 /* text form, without the trailing dot */
#define FZ_DNS_LABEL_MAX  63
#define FZ_DNS_LABELS_MAX 127

#define FZ_DNS_PATTERN_ERROR (fz_dns_pattern_error_quark ())
GQuark fz_dns_pattern_error_quark (void);

typedef enum
{
  FZ_DNS_PATTERN_ERROR_INVALID,
} FzDnsPatternError;

/* A host name, lowercased, without the trailing dot; the root name has
 * no labels. A value type to keep on the stack. */
typedef struct
{
  char text[FZ_DNS_NAME_MAX + 1];
  guint8 len;
  guint8 n_labels;
  guint8 label_start[FZ_DNS_LABELS_MAX];
} FzDnsName;

/* Dotted text, any case, one trailing dot allowed ("" and "." are the
 * root). FALSE for empty labels, over-long names or labels, and labels
 * with a byte other than a letter, digit, `-` or `_` (no host name, so
 * it could match no pattern anyway). */
gboolean fz_dns_name_parse (FzDnsName *name, const char *text);
/* Uncompressed wire form (length-prefixed labels ending in a zero
 * length), with the same rules. Both leave the root name on failure. */
gboolean fz_dns_name_parse_wire (FzDnsName *name, const guint8 *wire, gsize len);

typedef struct _FzDnsPattern FzDnsPattern;

FzDnsPattern *fz_dns_pattern_new (const char *pattern, GError **error);
void fz_dns_pattern_free (FzDnsPattern *pattern);
/* Lowercased, without the trailing dot. */
const char *fz_dns_pattern_get_text (const FzDnsPattern *pattern);
gboolean fz_dns_pattern_is_exact (const FzDnsPattern *pattern);
/* The literal labels after the last label holding a wildcard (the whole
 * text for an exact name, "" for `**` or `*.com*`-like tails). Every name
 * the pattern matches ends with it at a label boundary. */
const char *fz_dns_pattern_get_tail (const FzDnsPattern *pattern);
gboolean fz_dns_pattern_matches_name (const FzDnsPattern *pattern, const FzDnsName *name);
/* Convenience: parses `name` (FALSE when it does not parse). */
gboolean fz_dns_pattern_matches (const FzDnsPattern *pattern, const char *name);
/* < 0 when `a` is more specific than `b`, 0 for the same pattern. */
int fz_dns_pattern_compare (const FzDnsPattern *a, const FzDnsPattern *b);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FzDnsPattern, fz_dns_pattern_free)

G_END_DECLS
