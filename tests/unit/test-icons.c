/* data/icons: each SVG renders (through GdkPixbuf's SVG loader, as GTK
 * loads it) at tray sizes, draws something and leaves a transparent
 * background; symbolic ones use the one colour GTK recolours. */
#include <gdk-pixbuf/gdk-pixbuf.h>

static const char *const names[]
  = { "dev.libfz.Client", "dev.libfz.Client-signed-out", "dev.libfz.Client-busy",
      "dev.libfz.Client-signed-in", NULL };

typedef struct
{
  guint opaque, clear, off_colour; /* opaque: alpha at least half */
} Census;

/* Counts pixels; off_colour: drawn pixels whose colour is not #bebebe
 * (the SVG loader un-premultiplies, so edges may be off by a little). */
static Census
census (GdkPixbuf *pb)
{
  Census c = { 0 };
  int w = gdk_pixbuf_get_width (pb), h = gdk_pixbuf_get_height (pb);
  int stride = gdk_pixbuf_get_rowstride (pb);
  const guchar *px = gdk_pixbuf_read_pixels (pb);

  g_assert_true (gdk_pixbuf_get_has_alpha (pb));
  g_assert_cmpint (gdk_pixbuf_get_n_channels (pb), ==, 4);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        const guchar *p = px + y * stride + x * 4;

        c.opaque += p[3] >= 128;
        c.clear += p[3] == 0;
        if (p[3] > 32)
          for (int k = 0; k < 3; k++)
            if (ABS ((int) p[k] - 0xbe) > 8)
              {
                c.off_colour++;
                break;
              }
      }
  return c;
}

static void
check (const char *name, gboolean symbolic, int size)
{
  g_autofree char *file = g_strconcat (name, symbolic ? "-symbolic.svg" : ".svg", NULL);
  g_autofree char *path
    = g_test_build_filename (G_TEST_DIST, "..", "data", "icons", file, NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GdkPixbuf) pb = gdk_pixbuf_new_from_file_at_size (path, size, size, &error);
  Census c;

  g_assert_no_error (error);
  g_assert_cmpint (gdk_pixbuf_get_width (pb), ==, size);
  g_assert_cmpint (gdk_pixbuf_get_height (pb), ==, size);
  c = census (pb);
  /* Drawn: at least an eighth of the square; a background left clear. */
  g_assert_cmpuint (c.opaque, >=, (guint) (size * size / 8));
  g_assert_cmpuint (c.clear, >=, (guint) (size * size / 10));
  if (symbolic)
    g_assert_cmpuint (c.off_colour, ==, 0);
  else
    g_assert_cmpuint (c.off_colour, >, 0);
}

static void
test_icons (void)
{
  static const int sizes[] = { 16, 24, 64 };

  for (guint i = 0; names[i] != NULL; i++)
    for (guint s = 0; s < G_N_ELEMENTS (sizes); s++)
      {
        check (names[i], FALSE, sizes[s]);
        check (names[i], TRUE, sizes[s]);
      }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/icons/render", test_icons);
  return g_test_run ();
}
