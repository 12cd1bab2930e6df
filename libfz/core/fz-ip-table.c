#include "fz-ip-table-private.h"

#include <string.h>

/* An address as two big-endian words, so prefix compares and bit tests
 * are a shift and a mask; IPv4 sits in the top 32 bits of w[0]. */
typedef struct
{
  guint64 w[2];
} Key;

typedef struct _Node Node;
struct _Node
{
  Node *child[2]; /* by the bit just past len */
  Node *parent;
  Key key; /* bits past len cleared */
  guint8 len;
  gpointer value; /* NULL: only a branch point */
};

struct _FzIpTable
{
  Node *root[2]; /* IPv4, IPv6 */
  guint size;
  GDestroyNotify value_free;
};

static void
key_from_addr (Key *k, const FzIpAddr *a)
{
  guint32 v4;
  guint64 v6[2];

  if (a->family == 4)
    {
      memcpy (&v4, a->bytes, 4);
      k->w[0] = (guint64) GUINT32_FROM_BE (v4) << 32;
      k->w[1] = 0;
      return;
    }
  memcpy (v6, a->bytes, 16);
  k->w[0] = GUINT64_FROM_BE (v6[0]);
  k->w[1] = GUINT64_FROM_BE (v6[1]);
}

static void
key_to_prefix (const Key *k, guint len, guint8 family, FzIpPrefix *p)
{
  guint32 v4;
  guint64 v6[2];

  memset (p, 0, sizeof *p);
  p->addr.family = family;
  p->len = (guint8) len;
  if (family == 4)
    {
      v4 = GUINT32_TO_BE ((guint32) (k->w[0] >> 32));
      memcpy (p->addr.bytes, &v4, 4);
      return;
    }
  v6[0] = GUINT64_TO_BE (k->w[0]);
  v6[1] = GUINT64_TO_BE (k->w[1]);
  memcpy (p->addr.bytes, v6, 16);
}

/* The top @len bits set (0..64). */
static inline guint64
word_mask (guint len)
{
  return len == 0 ? 0 : ~G_GUINT64_CONSTANT (0) << (64 - len);
}

static void
key_mask (Key *k, guint len)
{
  k->w[0] &= word_mask (MIN (len, 64u));
  k->w[1] &= word_mask (len > 64 ? len - 64 : 0);
}

/* Whether the first @len bits of @a and @b agree. */
static inline gboolean
key_prefix_eq (const Key *a, const Key *b, guint len)
{
  if (len <= 64)
    return ((a->w[0] ^ b->w[0]) & word_mask (len)) == 0;
  return a->w[0] == b->w[0] && ((a->w[1] ^ b->w[1]) & word_mask (len - 64)) == 0;
}

/* How many leading bits @a and @b share (0..128). */
static guint
key_common (const Key *a, const Key *b)
{
  guint64 x = a->w[0] ^ b->w[0];

  if (x != 0)
    return (guint) __builtin_clzll (x);
  x = a->w[1] ^ b->w[1];
  return x != 0 ? 64 + (guint) __builtin_clzll (x) : 128;
}

/* Bit @i (0 = most significant; below 128). */
static inline guint
key_bit (const Key *k, guint i)
{
  return i < 64 ? (guint) (k->w[0] >> (63 - i)) & 1 : (guint) (k->w[1] >> (127 - i)) & 1;
}

static gboolean
prefix_key (const FzIpPrefix *p, Key *k, guint *len, guint *root)
{
  guint max = fz_ip_prefix_max_len (p->addr.family);

  if (max == 0)
    return FALSE;
  key_from_addr (k, &p->addr);
  *len = MIN ((guint) p->len, max);
  key_mask (k, *len);
  *root = p->addr.family == 4 ? 0 : 1;
  return TRUE;
}

static Node *
node_new (const Key *k, guint len, Node *parent, gpointer value)
{
  Node *n = g_new0 (Node, 1);

  n->key = *k;
  key_mask (&n->key, len);
  n->len = (guint8) len;
  n->parent = parent;
  n->value = value;
  return n;
}

static void
node_free_tree (FzIpTable *t, Node *n)
{
  if (n == NULL)
    return;
  node_free_tree (t, n->child[0]);
  node_free_tree (t, n->child[1]);
  if (n->value != NULL && t->value_free != NULL)
    t->value_free (n->value);
  g_free (n);
}

FzIpTable *
fz_ip_table_new (GDestroyNotify value_free)
{
  FzIpTable *t = g_new0 (FzIpTable, 1);

  t->value_free = value_free;
  return t;
}

void
fz_ip_table_clear (FzIpTable *t)
{
  for (guint i = 0; i < 2; i++)
    {
      Node *root = g_steal_pointer (&t->root[i]);
      node_free_tree (t, root);
    }
  t->size = 0;
}

void
fz_ip_table_free (FzIpTable *t)
{
  if (t == NULL)
    return;
  fz_ip_table_clear (t);
  g_free (t);
}

guint
fz_ip_table_size (const FzIpTable *t)
{
  return t->size;
}

static gboolean
set_value (FzIpTable *t, Node *n, gpointer value)
{
  gpointer old = n->value;

  n->value = value;
  if (old == NULL)
    {
      t->size++;
      return TRUE;
    }
  if (old != value && t->value_free != NULL)
    t->value_free (old);
  return FALSE;
}

/* Puts a new node for (@k, @len) above @n, which it does not cover: either
 * the new prefix covers @n, or both hang off a branch at their first
 * differing bit @common. */
static Node *
insert_above (Node *n, const Key *k, guint len, guint common, gpointer value)
{
  Node *up;

  if (common == len)
    up = node_new (k, len, n->parent, value);
  else
    {
      up = node_new (k, common, n->parent, NULL);
      up->child[key_bit (k, common)] = node_new (k, len, up, value);
    }
  up->child[key_bit (&n->key, common)] = n;
  n->parent = up;
  return up;
}

gboolean
fz_ip_table_insert (FzIpTable *t, const FzIpPrefix *prefix, gpointer value)
{
  Node *parent = NULL;
  Node **slot;
  guint len, root;
  Key k;

  g_return_val_if_fail (value != NULL, FALSE);
  if (!prefix_key (prefix, &k, &len, &root))
    g_return_val_if_reached (FALSE);
  slot = &t->root[root];
  while (*slot != NULL)
    {
      Node *n = *slot;
      guint common = MIN (key_common (&n->key, &k), MIN ((guint) n->len, len));

      if (common == n->len && n->len == len)
        return set_value (t, n, value);
      if (common < n->len)
        {
          *slot = insert_above (n, &k, len, common, value);
          t->size++;
          return TRUE;
        }
      parent = n;
      slot = &n->child[key_bit (&k, n->len)];
    }
  *slot = node_new (&k, len, parent, value);
  t->size++;
  return TRUE;
}

static Node *
find_exact (const FzIpTable *t, const FzIpPrefix *prefix)
{
  guint len, root;
  Node *n;
  Key k;

  if (!prefix_key (prefix, &k, &len, &root))
    return NULL;
  for (n = t->root[root]; n != NULL && n->len <= len; n = n->child[key_bit (&k, n->len)])
    {
      if (!key_prefix_eq (&n->key, &k, n->len))
        return NULL;
      if (n->len == len)
        return n->value != NULL ? n : NULL;
    }
  return NULL;
}

gpointer
fz_ip_table_lookup_exact (const FzIpTable *t, const FzIpPrefix *prefix)
{
  Node *n = find_exact (t, prefix);

  return n != NULL ? n->value : NULL;
}

gpointer
fz_ip_table_lookup (const FzIpTable *t, const FzIpAddr *addr, FzIpPrefix *matched)
{
  guint max = fz_ip_prefix_max_len (addr->family);
  const Node *best = NULL;
  const Node *n;
  Key k;

  if (max == 0)
    return NULL;
  key_from_addr (&k, addr);
  for (n = t->root[addr->family == 4 ? 0 : 1];
       n != NULL && key_prefix_eq (&n->key, &k, n->len);
       n = n->child[key_bit (&k, n->len)])
    {
      if (n->value != NULL)
        best = n;
      if (n->len == max)
        break;
    }
  if (best == NULL)
    return NULL;
  if (matched != NULL)
    key_to_prefix (&best->key, best->len, addr->family, matched);
  return best->value;
}

/* Drops @n's value, then the nodes left with no value and fewer than two
 * children: a branch point is kept only where two paths part. */
static void
remove_node (FzIpTable *t, Node *n)
{
  gpointer value = g_steal_pointer (&n->value);

  t->size--;
  while (n != NULL && n->value == NULL && (n->child[0] == NULL || n->child[1] == NULL))
    {
      Node *child = n->child[0] != NULL ? n->child[0] : n->child[1];
      Node *parent = n->parent;
      Node **slot = parent != NULL    ? &parent->child[key_bit (&n->key, parent->len)]
                    : t->root[0] == n ? &t->root[0]
                                      : &t->root[1];

      *slot = child;
      if (child != NULL)
        child->parent = parent;
      g_free (n);
      /* Handing @n's child up leaves @parent as it was; removing a leaf
       * may leave @parent a needless branch point. */
      n = child == NULL ? parent : NULL;
    }
  if (t->value_free != NULL)
    t->value_free (value);
}

gboolean
fz_ip_table_remove (FzIpTable *t, const FzIpPrefix *prefix)
{
  Node *n = find_exact (t, prefix);

  if (n == NULL)
    return FALSE;
  remove_node (t, n);
  return TRUE;
}

static void
collect_value (Node *n, gconstpointer value, GPtrArray *out)
{
  if (n == NULL)
    return;
  if (n->value == value)
    g_ptr_array_add (out, n);
  collect_value (n->child[0], value, out);
  collect_value (n->child[1], value, out);
}

guint
fz_ip_table_remove_value (FzIpTable *t, gconstpointer value)
{
  g_autoptr (GPtrArray) found = g_ptr_array_new ();

  g_return_val_if_fail (value != NULL, 0);
  for (guint i = 0; i < 2; i++)
    collect_value (t->root[i], value, found);
  /* Removing a node frees only valueless ones, never one still listed. */
  for (guint i = 0; i < found->len; i++)
    remove_node (t, found->pdata[i]);
  return found->len;
}

static void
foreach_node (const Node *n, guint8 family, FzIpTableFunc func, gpointer user_data)
{
  FzIpPrefix p;

  if (n == NULL)
    return;
  if (n->value != NULL)
    {
      key_to_prefix (&n->key, n->len, family, &p);
      func (&p, n->value, user_data);
    }
  foreach_node (n->child[0], family, func, user_data);
  foreach_node (n->child[1], family, func, user_data);
}

void
fz_ip_table_foreach (const FzIpTable *t, FzIpTableFunc func, gpointer user_data)
{
  foreach_node (t->root[0], 4, func, user_data);
  foreach_node (t->root[1], 6, func, user_data);
}
