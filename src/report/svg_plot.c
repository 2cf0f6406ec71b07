/* Line plots as inline SVG: the frame, both axes with "nice" ticks (1, 2 or 5 times a power of
 * ten) and their labels, one path per series (broken where a value is not finite), vertical marks
 * on the x axis and a legend; long series are decimated for drawing, keeping their extremes. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bcos/check.h"
#include "report_internal.h"

/* The plot's size and the frame's margins, in SVG user units (pixels). */
#define PLOT_W 600
#define PLOT_H 300
#define LEFT 72
#define RIGHT 16
#define TOP 44
#define BOTTOM 46
/* nice steps give 5 to 12 ticks; the bound only guards against rounding */
#define MAX_TICKS 16

/* The palette's colour i (cycling), as "#rrggbb". */
static const char *plot_colour(int i) {
    /* distinguishable on white and for the common colour blindnesses (Okabe and Ito's palette) */
    static const char *const palette[] = {"#0072b2", "#d55e00", "#009e73", "#cc79a7",
                                          "#e69f00", "#56b4e9", "#000000", "#f0e442"};
    return palette[(i % 8 + 8) % 8];
}

/* ---- decimation ---- */

static int cmp_int(const void *a, const void *b) { return (*(const int *)a > *(const int *)b) - (*(const int *)a < *(const int *)b); }

int plot_decimate(const double *y, int n, int max_points, int **keep) {
    *keep = xmalloc((size_t)(n > 0 ? n : 1) * sizeof **keep);
    if (n <= max_points) {
        for (int i = 0; i < n; i++) (*keep)[i] = i;
        return n;
    }
    int buckets = max_points / 5 > 1 ? max_points / 5 : 1, count = 0;
    for (int b = 0; b < buckets; b++) {
        int lo = (int)((long long)n * b / buckets), hi = (int)((long long)n * (b + 1) / buckets);
        int first = -1, last = -1, min = -1, max = -1, gap = -1;
        for (int i = lo; i < hi; i++) {
            if (!isfinite(y[i])) {
                if (gap < 0) gap = i;
                continue;
            }
            if (first < 0) first = i;
            last = i;
            if (min < 0 || y[i] < y[min]) min = i;
            if (max < 0 || y[i] > y[max]) max = i;
        }
        int picked[5] = {first, min, max, last, gap}, m = 0;
        qsort(picked, 5, sizeof picked[0], cmp_int);
        for (int k = 0; k < 5; k++)
            if (picked[k] >= 0 && (m == 0 || picked[k] != (*keep)[count - 1])) (*keep)[count++] = picked[k], m++;
    }
    return count;
}

/* ---- axes ---- */

typedef struct {
    double lo, hi; /* the data range shown */
    double first_tick, tick_step;
} axis;

/* A range that shows every finite value, widened when it is a single value. */
static void axis_fit(axis *a, double lo, double hi, double pad) {
    if (!(lo <= hi)) lo = 0, hi = 1; /* no finite value */
    if (hi - lo <= 1e-12 * fmax(fabs(lo), fabs(hi))) {
        double half = lo != 0 ? fabs(lo) * 0.1 : 1.0;
        lo -= half, hi += half;
    } else {
        double margin = (hi - lo) * pad;
        lo -= margin, hi += margin;
    }
    if (!isfinite(hi - lo)) lo = -DBL_MAX / 4, hi = DBL_MAX / 4; /* values near the double's limits */
    double raw = (hi - lo) / 5, power = pow(10, floor(log10(raw))), step = power;
    if (raw / power >= 5) step = 5 * power;
    else if (raw / power >= 2) step = 2 * power;
    a->lo = lo, a->hi = hi, a->tick_step = step;
    a->first_tick = ceil(lo / step) * step;
}

static double to_px(const axis *a, double v, double px_lo, double px_hi) {
    return px_lo + (v - a->lo) / (a->hi - a->lo) * (px_hi - px_lo);
}

static void tick_label(char *buf, size_t len, double v, double step) {
    if (fabs(v) < step * 1e-9) v = 0; /* no "-1.7e-17" for zero */
    snprintf(buf, len, "%.6g", v);
}

static void draw_axes(FILE *out, const plot_spec *spec, const axis *x, const axis *y) {
    const double x0 = LEFT, x1 = PLOT_W - RIGHT, y0 = PLOT_H - BOTTOM, y1 = TOP;
    fprintf(out, "<rect class=\"frame\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#888\"/>\n",
            LEFT, TOP, PLOT_W - LEFT - RIGHT, PLOT_H - TOP - BOTTOM);
    char label[48];
    for (int k = 0; k <= MAX_TICKS; k++) {
        double v = x->first_tick + k * x->tick_step;
        if (v > x->hi + x->tick_step * 1e-9) break;
        double px = to_px(x, v, x0, x1);
        tick_label(label, sizeof label, v, x->tick_step);
        fprintf(out, "<line class=\"tick\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#888\"/>"
                     "<text class=\"tick-label\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
                px, y0, px, y0 + 5, px, y0 + 18, label);
    }
    for (int k = 0; k <= MAX_TICKS; k++) {
        double v = y->first_tick + k * y->tick_step;
        if (v > y->hi + y->tick_step * 1e-9) break;
        double py = to_px(y, v, y0, y1);
        tick_label(label, sizeof label, v, y->tick_step);
        fprintf(out, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>"
                     "<line class=\"tick\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#888\"/>"
                     "<text class=\"tick-label\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                x0, py, x1, py, x0 - 5, py, x0, py, x0 - 8, py + 4, label);
    }
    fprintf(out, "<text class=\"title\" x=\"%d\" y=\"18\" font-weight=\"bold\">", LEFT);
    html_text(out, spec->title);
    fprintf(out, "</text>\n<text class=\"axis-label\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">", (x0 + x1) / 2,
            PLOT_H - 8);
    html_text(out, spec->x_label);
    fprintf(out, "</text>\n<text class=\"axis-label\" transform=\"translate(14 %.1f) rotate(-90)\" "
                 "text-anchor=\"middle\">", (y0 + y1) / 2);
    html_text(out, spec->y_label);
    fputs("</text>\n", out);
}

/* ---- series ---- */

static void series_range(const plot_spec *spec, double *xlo, double *xhi, double *ylo, double *yhi) {
    *xlo = *ylo = INFINITY, *xhi = *yhi = -INFINITY;
    for (int s = 0; s < spec->n_series; s++)
        for (int i = 0; i < spec->series[s].n; i++) {
            double x = spec->series[s].x[i], y = spec->series[s].y[i];
            if (!isfinite(x) || !isfinite(y)) continue;
            *xlo = fmin(*xlo, x), *xhi = fmax(*xhi, x), *ylo = fmin(*ylo, y), *yhi = fmax(*yhi, y);
        }
    for (int m = 0; m < spec->n_marks; m++)
        if (isfinite(spec->marks[m].x)) *xlo = fmin(*xlo, spec->marks[m].x), *xhi = fmax(*xhi, spec->marks[m].x);
}

static void draw_series(FILE *out, const plot_series *s, int max_points, const axis *x, const axis *y) {
    int *keep, n = plot_decimate(s->y, s->n, max_points, &keep), points = 0;
    /* the path's text first, to count its points for data-points */
    char *d = NULL;
    size_t d_len = 0;
    FILE *path = open_memstream(&d, &d_len);
    BCOS_CHECK(path != NULL, "the machine is out of memory");
    int pen_down = 0;
    for (int k = 0; k < n; k++) {
        int i = keep[k];
        if (!isfinite(s->y[i]) || !isfinite(s->x[i])) {
            pen_down = 0;
            continue;
        }
        fprintf(path, "%s%.1f %.1f", pen_down ? "L" : "M", to_px(x, s->x[i], LEFT, PLOT_W - RIGHT),
                to_px(y, s->y[i], PLOT_H - BOTTOM, TOP));
        pen_down = 1;
        points++;
    }
    BCOS_CHECK(fclose(path) == 0, "the machine is out of memory");
    fprintf(out, "<path class=\"series\" data-series=\"");
    html_text(out, s->label);
    fprintf(out, "\" data-points=\"%d\" data-rows=\"%d\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\"%s d=\"%s\"/>\n",
            points, s->n, plot_colour(s->colour), s->dashed ? " stroke-dasharray=\"6 3\"" : "", d);
    /* a lone point draws nothing as a path: a dot shows it */
    if (points == 1) {
        double cx, cy;
        BCOS_CHECK(sscanf(d, "M%lf %lf", &cx, &cy) == 2, "a one-point path");
        fprintf(out, "<circle class=\"dot\" cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>\n", cx, cy,
                plot_colour(s->colour));
    }
    free(d);
    free(keep);
}

static void draw_marks(FILE *out, const plot_spec *spec, const axis *x) {
    for (int m = 0; m < spec->n_marks; m++) {
        const plot_mark *mark = &spec->marks[m];
        double px = to_px(x, mark->x, LEFT, PLOT_W - RIGHT);
        fprintf(out, "<g class=\"mark\"><title>");
        html_text(out, mark->label);
        fprintf(out, "</title><line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"%s\" stroke-dasharray=\"4 3\"/>"
                     "<path d=\"M%.1f %dl-5 8h10z\" fill=\"%s\"/></g>\n",
                px, TOP, px, PLOT_H - BOTTOM, plot_colour(mark->colour), px, PLOT_H - BOTTOM, plot_colour(mark->colour));
    }
}

static void draw_legend(FILE *out, const plot_spec *spec) {
    double px = PLOT_W - RIGHT;
    /* right-aligned in the top margin, the last series rightmost */
    for (int s = spec->n_series - 1; s >= 0; s--) {
        const plot_series *series = &spec->series[s];
        double width = 7.0 * (double)strlen(series->label ? series->label : "") + 22;
        px -= width;
        fprintf(out, "<g class=\"legend\"><line x1=\"%.1f\" y1=\"30\" x2=\"%.1f\" y2=\"30\" stroke=\"%s\" "
                     "stroke-width=\"3\"%s/><text x=\"%.1f\" y=\"34\">", px, px + 12, plot_colour(series->colour),
                series->dashed ? " stroke-dasharray=\"4 2\"" : "", px + 16);
        html_text(out, series->label);
        fputs("</text></g>\n", out);
    }
}

void svg_plot(FILE *out, const plot_spec *spec) {
    double xlo, xhi, ylo, yhi;
    series_range(spec, &xlo, &xhi, &ylo, &yhi);
    axis x, y;
    axis_fit(&x, xlo, xhi, 0.0);
    axis_fit(&y, ylo, yhi, 0.05);
    fprintf(out, "<svg class=\"plot\" data-plot=\"");
    html_text(out, spec->id);
    fprintf(out, "\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                 "font-family=\"sans-serif\" font-size=\"11\" role=\"img\">\n<title>", PLOT_W, PLOT_H, PLOT_W, PLOT_H);
    html_text(out, spec->title);
    fputs("</title>\n", out);
    draw_axes(out, spec, &x, &y);
    if (!(ylo <= yhi))
        fprintf(out, "<text class=\"empty\" x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"#888\">no finite values"
                     "</text>\n", (LEFT + PLOT_W - RIGHT) / 2, (TOP + PLOT_H - BOTTOM) / 2);
    for (int s = 0; s < spec->n_series; s++) draw_series(out, &spec->series[s], spec->max_points, &x, &y);
    draw_marks(out, spec, &x);
    if (spec->n_series > 1) draw_legend(out, spec);
    fputs("</svg>\n", out);
}
