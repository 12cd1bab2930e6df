#include "fz-dns-pattern-private.h"

#include <string.h>

/* clang-format off */
G_DEFINE_QUARK (fz-dns-pattern-error-quark, fz_dns_pattern_error)
/* clang-format on */

typedef enum
{
  LABEL_LITERAL,
  LABEL_GLOB, /* holds `*` or `?` among other characters */
  LABEL_STAR,
  LABEL_STARSTAR,
} LabelKind;

typedef struct
{
  guint8 start, len, kind;
} Label;

struct _FzDnsPattern
{
  char *text;
  gsize len;
  const char *tail; /* into text */
  gboolean exact;
  gboolean star_then_literal; /* `*.` and a literal rest */
  guint n_labels;
  Label labels[];
};

static gboolean
is_host_char (char c)
{
  return g_ascii_isalnum (c) || c == '-' || c == '_';
}

/* ---- names ---- */

static void
name_reset (FzDnsName *name)
{
  name->text[0] = '\0';
  name->len = 0;
  name->n_labels = 0;
}

/* Appends one label of `len` bytes; FALSE when it breaks a bound or
 * holds a byte that is no host-name character. */
static gboolean
name_append (FzDnsName *name, const char *label, gsize len)
{
  gsize at = name->len + (name->n_labels > 0 ? 1 : 0);

  if (len == 0 || len > FZ_DNS_LABEL_MAX || at + len > FZ_DNS_NAME_MAX)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    {
      if (!is_host_char (label[i]))
        return FALSE;
      name->text[at + i] = g_ascii_tolower (label[i]);
    }
  if (name->n_labels > 0)
    name->text[at - 1] = '.';
  name->label_start[name->n_labels++] = at;
  name->len = at + len;
  name->text[name->len] = '\0';
  return TRUE;
}

static gboolean
name_parse_text (FzDnsName *name, const char *text)
{
  gsize len = strlen (text);

  name_reset (name);
  if (len > 0 && text[len - 1] == '.')
    len--;
  if (len == 0)
    return TRUE;
  if (len > FZ_DNS_NAME_MAX)
    return FALSE;

  gsize start = 0;
  for (gsize i = 0; i <= len; i++)
    if (i == len || text[i] == '.')
      {
        if (!name_append (name, text + start, i - start))
          return FALSE;
        start = i + 1;
      }
  return TRUE;
}

static gboolean
name_parse_wire (FzDnsName *name, const guint8 *wire, gsize len)
{
  gsize pos = 0;

  name_reset (name);
  while (pos < len)
    {
      guint8 l = wire[pos++];

      if (l == 0)
        return pos == len;
      /* Lengths above 63 are compression pointers or reserved. */
      if (l > FZ_DNS_LABEL_MAX || l > len - pos)
        return FALSE;
      if (!name_append (name, (const char *) wire + pos, l))
        return FALSE;
      pos += l;
    }
  return FALSE;
}

/* A name that fails to parse is left as the root, never half-filled. */
gboolean
fz_dns_name_parse (FzDnsName *name, const char *text)
{
  if (name_parse_text (name, text))
    return TRUE;
  name_reset (name);
  return FALSE;
}

gboolean
fz_dns_name_parse_wire (FzDnsName *name, const guint8 *wire, gsize len)
{
  if (name_parse_wire (name, wire, len))
    return TRUE;
  name_reset (name);
  return FALSE;
}

static gsize
name_label_len (const FzDnsName *name, guint i)
{
  gsize end = i + 1 < name->n_labels ? name->label_start[i + 1] - 1u : name->len;
  return end - name->label_start[i];
}

/* ---- compiling ---- */

static gboolean
invalid (GError **error, const char *pattern, const char *why)
{
  g_set_error (error, FZ_DNS_PATTERN_ERROR, FZ_DNS_PATTERN_ERROR_INVALID,
               "DNS pattern \"%.80s\" is invalid: %s", pattern, why);
  return FALSE;
}

static gboolean
check_label (const char *pattern, const char *label, gsize len, LabelKind *kind,
             GError **error)
{
  gboolean wild = FALSE;

  if (len == 0)
    return invalid (error, pattern, "empty label");
  if (len > FZ_DNS_LABEL_MAX)
    return invalid (error, pattern, "label longer than 63 characters");
  for (gsize i = 0; i < len; i++)
    {
      char c = label[i];

      if ((guchar) c >= 0x80)
        return invalid (error, pattern, "not ASCII (give IDNs in punycode, xn--)");
      if (c == '*' || c == '?')
        wild = TRUE;
      else if (!is_host_char (c))
        return invalid (error, pattern,
                        "only letters, digits, '-', '_', '*' and '?' are allowed");
      if (c == '*' && i + 1 < len && label[i + 1] == '*' && len != 2)
        return invalid (error, pattern, "'**' must be a whole label");
    }
  if (len == 2 && label[0] == '*' && label[1] == '*')
    *kind = LABEL_STARSTAR;
  else if (len == 1 && label[0] == '*')
    *kind = LABEL_STAR;
  else
    *kind = wild ? LABEL_GLOB : LABEL_LITERAL;
  return TRUE;
}

static void
set_tail (FzDnsPattern *p)
{
  guint first_literal = 0;

  for (guint i = 0; i < p->n_labels; i++)
    if (p->labels[i].kind != LABEL_LITERAL)
      first_literal = i + 1;
  p->exact = first_literal == 0;
  p->tail = first_literal < p->n_labels ? p->text + p->labels[first_literal].start
                                        : p->text + p->len;
  p->star_then_literal
    = p->n_labels > 1 && p->labels[0].kind == LABEL_STAR && first_literal == 1;
}

FzDnsPattern *
fz_dns_pattern_new (const char *pattern, GError **error)
{
  g_return_val_if_fail (pattern != NULL, NULL);
  gsize len = strnlen (pattern, FZ_DNS_NAME_MAX + 2);
  Label labels[FZ_DNS_LABELS_MAX];
  guint n = 0;

  if (len > 0 && pattern[len - 1] == '.')
    len--;
  if (len == 0 || len > FZ_DNS_NAME_MAX)
    {
      invalid (error, pattern, len == 0 ? "empty" : "longer than 253 characters");
      return NULL;
    }

  gsize start = 0;
  for (gsize i = 0; i <= len; i++)
    {
      LabelKind kind;

      if (i < len && pattern[i] != '.')
        continue;
      if (!check_label (pattern, pattern + start, i - start, &kind, error))
        return NULL;
      labels[n++] = (Label){ .start = start, .len = i - start, .kind = kind };
      start = i + 1;
    }

  FzDnsPattern *p = g_malloc0 (sizeof *p + n * sizeof (Label));
  p->text = g_ascii_strdown (pattern, len);
  p->len = len;
  p->n_labels = n;
  memcpy (p->labels, labels, n * sizeof (Label));
  set_tail (p);
  return p;
}

void
fz_dns_pattern_free (FzDnsPattern *pattern)
{
  if (pattern == NULL)
    return;
  g_free (pattern->text);
  g_free (pattern);
}

const char *
fz_dns_pattern_get_text (const FzDnsPattern *pattern)
{
  return pattern->text;
}

gboolean
fz_dns_pattern_is_exact (const FzDnsPattern *pattern)
{
  return pattern->exact;
}

const char *
fz_dns_pattern_get_tail (const FzDnsPattern *pattern)
{
  return pattern->tail;
}

/* ---- matching ---- */

/* A glob within one label: `*` any run, `?` one character. Iterative,
 * retrying from the last `*`: O(len²) at worst for 63-byte labels. */
static gboolean
glob_label (const char *p, gsize pl, const char *t, gsize tl)
{
  gsize pi = 0, ti = 0, star_p = G_MAXSIZE, star_t = 0;

  while (ti < tl)
    {
      if (pi < pl && (p[pi] == '?' || p[pi] == t[ti]))
        pi++, ti++;
      else if (pi < pl && p[pi] == '*')
        star_p = pi++, star_t = ti;
      else if (star_p != G_MAXSIZE)
        pi = star_p + 1, ti = ++star_t;
      else
        return FALSE;
    }
  while (pi < pl && p[pi] == '*')
    pi++;
  return pi == pl;
}

static gboolean
label_matches (const FzDnsPattern *p, const Label *l, const FzDnsName *name, guint i)
{
  const char *t = name->text + name->label_start[i];
  gsize tl = name_label_len (name, i);

  switch (l->kind)
    {
    case LABEL_STAR: return TRUE;
    case LABEL_LITERAL: return tl == l->len && memcmp (p->text + l->start, t, tl) == 0;
    default: return glob_label (p->text + l->start, l->len, t, tl);
    }
}

/* The positions (name labels consumed so far) reachable after each
 * pattern label, as a bit set over 0..127: linear in labels² at worst,
 * whatever the number of `**`, where backtracking would be exponential. */
typedef struct
{
  guint64 w[2];
} Positions;

#define POS_BIT(i) (G_GUINT64_CONSTANT (1) << ((i) &63))

static gboolean
pos_has (const Positions *s, guint i)
{
  return (s->w[i >> 6] & POS_BIT (i)) != 0;
}

static void
pos_add (Positions *s, guint i)
{
  s->w[i >> 6] |= POS_BIT (i);
}

static gboolean
glob_matches (const FzDnsPattern *p, const FzDnsName *name)
{
  Positions s = { { 1, 0 } };
  guint n = name->n_labels;

  for (guint k = 0; k < p->n_labels; k++)
    {
      Positions next = { { 0, 0 } };
      guint i = 0;

      while (i <= n && !pos_has (&s, i))
        i++;
      if (i > n)
        return FALSE;
      if (p->labels[k].kind == LABEL_STARSTAR)
        for (; i <= n; i++)
          pos_add (&next, i);
      else
        for (; i < n; i++)
          if (pos_has (&s, i) && label_matches (p, &p->labels[k], name, i))
            pos_add (&next, i + 1);
      s = next;
    }
  return pos_has (&s, n);
}

gboolean
fz_dns_pattern_matches_name (const FzDnsPattern *pattern, const FzDnsName *name)
{
  if (name->n_labels == 0)
    return FALSE;
  if (pattern->star_then_literal && name->len == pattern->len - 2
      && memcmp (name->text, pattern->text + 2, name->len) == 0)
    return TRUE;
  return glob_matches (pattern, name);
}

gboolean
fz_dns_pattern_matches (const FzDnsPattern *pattern, const char *name)
{
  FzDnsName n;

  return fz_dns_name_parse (&n, name) && fz_dns_pattern_matches_name (pattern, &n);
}

/* ---- specificity ---- */

static gboolean
is_wild (int c)
{
  return c == '*' || c == '?';
}

/* One step of Firezone's order; `a`, `b` are characters or 0 for the
 * end of a pattern, and differ. */
static int
compare_chars (int a, int b)
{
  if (a == '*' && b == '?')
    return 1;
  if (a == '?' && b == '*')
    return -1;
  if (is_wild (a))
    return 1; /* against a literal, a '.' or the end */
  if (is_wild (b))
    return -1;
  if (a != 0 && b != 0)
    return a > b ? -1 : 1;
  return a != 0 ? 1 : -1;
}

int
fz_dns_pattern_compare (const FzDnsPattern *a, const FzDnsPattern *b)
{
  gsize i = a->len, j = b->len;

  for (;;)
    {
      int ca = i > 0 ? a->text[--i] : 0;
      int cb = j > 0 ? b->text[--j] : 0;

      if (ca == 0 && cb == 0)
        return 0;
      if (ca != cb)
        return compare_chars (ca, cb);
    }
}
