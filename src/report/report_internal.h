/* Inside the report module: HTML text output and the SVG line plots the page is drawn with. */
#ifndef BCOS_REPORT_INTERNAL_H
#define BCOS_REPORT_INTERNAL_H

#include <stddef.h>
#include <stdio.h>

/* ---- HTML output (html.c) ---- */

/* Text with the HTML special characters (& < > " ') escaped: safe in an element and in a quoted
 * attribute. NULL writes nothing. */
void html_text(FILE *out, const char *text);
/* The bytes in base64 (RFC 4648, with padding): a data: URI's payload. */
void html_base64(FILE *out, const unsigned char *data, size_t n);
/* A number for people: "-" for NaN, "inf"/"-inf", else %.4g. */
void html_number(FILE *out, double value);

/* ---- SVG line plots (svg_plot.c) ---- */

/* One line: n points (x[i], y[i]), x ascending; a non-finite y breaks the line there. */
typedef struct {
    const char *label;
    const double *x, *y;
    int n;
    int colour; /* index into the plots' palette (it cycles) */
    int dashed; /* a reference line (a run's teacher) */
} plot_series;

/* A vertical mark on the x axis (a resume, a preemption), with its text. */
typedef struct {
    double x;
    const char *label;
    int colour;
} plot_mark;

typedef struct {
    const char *id;      /* the svg element's data-plot attribute */
    const char *title, *x_label, *y_label;
    const plot_series *series;
    int n_series;
    const plot_mark *marks;
    int n_marks;
    int max_points; /* a series with more points is decimated to about this many */
} plot_spec;

/* The plot as an inline <svg> element: frame, axes with ticks and tick labels, axis labels, one
 * <path class="series"> per series (data-points: the points it draws), the marks and a legend. A
 * plot without a finite point says so inside its frame. */
void svg_plot(FILE *out, const plot_spec *spec);

/* Decimation for drawing: the indices of the points kept when n points are drawn as at most about
 * max_points (n <= max_points: all of them). The points are cut into buckets of consecutive
 * indices; each keeps its first and last finite point and its smallest and largest y, in index
 * order, so that the extremes survive. A bucket with a non-finite y keeps that index too, so the
 * line still breaks there. Returns the count; keep (heap) holds the indices, ascending. */
int plot_decimate(const double *y, int n, int max_points, int **keep);

#endif
