/*
 * lut.c - log-to-Rec.709 viewing LUTs computed from the published curves.
 *
 * No third-party LUT file is shipped: each LUT is computed here from the
 * camera makers' published formulas and gamut primaries, as a 33^3 .cube
 * that libavfilter's lut3d applies.
 *
 * For one input triple the steps are:
 *  1. Video-range R'G'B' (what swscale produces from limited-range Y'CbCr:
 *     code 64 -> 0.0, 940 -> 1.0) back to the 10-bit code value / 1023 the
 *     curves are defined on: x = (v * 876 + 64) / 1023.
 *  2. Log -> scene-linear reflectance (18 % grey = 0.18), per curve:
 *     - Sony S-Log3: "Technical Summary for S-Gamut3.Cine/S-Log3 and
 *       S-Gamut3/S-Log3" (Sony, 2014):
 *         x >= 171.2102946929/1023: 10^((x*1023 - 420)/261.5) * (0.18 + 0.01) - 0.01
 *         else:                     (x*1023 - 95) * 0.01125 / (171.2102946929 - 95)
 *     - Panasonic V-Log: "V-Log/V-Gamut Reference Manual" (Panasonic, 2014):
 *         x < 0.181: (x - 0.125) / 5.6
 *         else:      10^((x - 0.598206) / 0.241514) - 0.00873
 *     - ARRI LogC3 (EI 800): "ALEXA Log C Curve - Usage in VFX" (ARRI white
 *       paper, 2017), parameters cut=0.010591 a=5.555556 b=0.052272
 *       c=0.247190 d=0.385537 e=5.367655 f=0.092809:
 *         x > e*cut + f: (10^((x - d)/c) - b) / a
 *         else:          (x - f) / e
 *  3. Camera gamut -> Rec.709 primaries, a 3x3 matrix computed from the
 *     published chromaticities (same D65 white, so no adaptation):
 *     S-Gamut3.Cine R(0.766,0.275) G(0.225,0.800) B(0.089,-0.087) (Sony
 *     summary above); V-Gamut R(0.730,0.280) G(0.165,0.840) B(0.100,-0.030)
 *     (Panasonic manual above); ARRI Wide Gamut 3 R(0.6840,0.3130)
 *     G(0.2210,0.8480) B(0.0861,-0.1020) (ARRI paper above); Rec.709
 *     R(0.64,0.33) G(0.30,0.60) B(0.15,0.06), D65 (0.3127,0.3290) (ITU-R
 *     BT.709-6).
 *  4. A simple display transform: negative values clipped, then per channel
 *     the extended Reinhard curve y = s(1 + s/W^2)/(1 + s) with s = 1.18 x
 *     and W = 16, which keeps 18 % grey at ~0.175 and rolls highlights off
 *     to 1.0 at ~13.5x grey instead of clipping them at 1.0.
 *  5. The Rec.709 OETF (ITU-R BT.709-6): 4.5 L below 0.018, else
 *     1.099 L^0.45 - 0.099. The result is full-range R'G'B' which the filter
 *     graph converts back to limited-range Y'CbCr with the BT.709 matrix.
 *
 * It is a viewing transform for proxies, not a grade: it makes log footage
 * look normal in an offline edit.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "media_internal.h"

typedef struct xy {
	double x, y;
} xy;

typedef struct curve_def {
	const char *name;
	double (*to_linear)(double x);
	xy r, g, b;
} curve_def;

static double slog3_to_linear(double x)
{
	if (x >= 171.2102946929 / 1023.0)
		return pow(10.0, (x * 1023.0 - 420.0) / 261.5) * (0.18 + 0.01) - 0.01;
	return (x * 1023.0 - 95.0) * 0.01125 / (171.2102946929 - 95.0);
}

static double vlog_to_linear(double x)
{
	if (x < 0.181)
		return (x - 0.125) / 5.6;
	return pow(10.0, (x - 0.598206) / 0.241514) - 0.00873;
}

static double logc3_to_linear(double x)
{
	const double cut = 0.010591, a = 5.555556, b = 0.052272, c = 0.247190, d = 0.385537,
	             e = 5.367655, f = 0.092809;
	if (x > e * cut + f)
		return (pow(10.0, (x - d) / c) - b) / a;
	return (x - f) / e;
}

static const curve_def curves[] = {
	{"slog3", slog3_to_linear, {0.766, 0.275}, {0.225, 0.800}, {0.089, -0.087}},
	{"vlog", vlog_to_linear, {0.730, 0.280}, {0.165, 0.840}, {0.100, -0.030}},
	{"logc3", logc3_to_linear, {0.6840, 0.3130}, {0.2210, 0.8480}, {0.0861, -0.1020}},
};

static const xy rec709_r = {0.64, 0.33}, rec709_g = {0.30, 0.60}, rec709_b = {0.15, 0.06};
static const xy d65 = {0.3127, 0.3290};

static const curve_def *find_curve(const char *name)
{
	for (size_t i = 0; i < sizeof(curves) / sizeof(curves[0]); i++)
		if (strcmp(curves[i].name, name) == 0)
			return &curves[i];
	return NULL;
}

bool media_lut_known(const char *curve)
{
	return find_curve(curve) != NULL;
}

static void mat_inverse(double m[3][3], double o[3][3])
{
	double det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
	             m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
	             m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
	o[0][0] = (m[1][1] * m[2][2] - m[1][2] * m[2][1]) / det;
	o[0][1] = (m[0][2] * m[2][1] - m[0][1] * m[2][2]) / det;
	o[0][2] = (m[0][1] * m[1][2] - m[0][2] * m[1][1]) / det;
	o[1][0] = (m[1][2] * m[2][0] - m[1][0] * m[2][2]) / det;
	o[1][1] = (m[0][0] * m[2][2] - m[0][2] * m[2][0]) / det;
	o[1][2] = (m[0][2] * m[1][0] - m[0][0] * m[1][2]) / det;
	o[2][0] = (m[1][0] * m[2][1] - m[1][1] * m[2][0]) / det;
	o[2][1] = (m[0][1] * m[2][0] - m[0][0] * m[2][1]) / det;
	o[2][2] = (m[0][0] * m[1][1] - m[0][1] * m[1][0]) / det;
}

static void mat_mul(double a[3][3], double b[3][3], double o[3][3])
{
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 3; j++)
			o[i][j] = a[i][0] * b[0][j] + a[i][1] * b[1][j] + a[i][2] * b[2][j];
}

/* RGB -> XYZ for primaries r, g, b and white w (SMPTE RP 177 method). */
static void rgb_to_xyz(xy r, xy g, xy b, xy w, double m[3][3])
{
	const xy p[3] = {r, g, b};
	double P[3][3], Pi[3][3];
	for (int j = 0; j < 3; j++) {
		P[0][j] = p[j].x / p[j].y;
		P[1][j] = 1.0;
		P[2][j] = (1.0 - p[j].x - p[j].y) / p[j].y;
	}
	mat_inverse(P, Pi);
	double W[3] = {w.x / w.y, 1.0, (1.0 - w.x - w.y) / w.y};
	for (int j = 0; j < 3; j++) {
		double s = Pi[j][0] * W[0] + Pi[j][1] * W[1] + Pi[j][2] * W[2];
		for (int i = 0; i < 3; i++)
			m[i][j] = P[i][j] * s;
	}
}

static void gamut_to_rec709(const curve_def *c, double m[3][3])
{
	double cam[3][3], rec[3][3], rec_inv[3][3];
	rgb_to_xyz(c->r, c->g, c->b, d65, cam);
	rgb_to_xyz(rec709_r, rec709_g, rec709_b, d65, rec);
	mat_inverse(rec, rec_inv);
	mat_mul(rec_inv, cam, m);
}

static double display(double x)
{
	const double W = 16.0;
	if (x <= 0)
		return 0;
	double s = 1.18 * x;
	double y = s * (1.0 + s / (W * W)) / (1.0 + s);
	if (y > 1.0)
		y = 1.0;
	return y < 0.018 ? 4.5 * y : 1.099 * pow(y, 0.45) - 0.099;
}

static void eval_with(const curve_def *c, double m[3][3], const double in[3], double out[3])
{
	double lin[3];
	for (int i = 0; i < 3; i++)
		lin[i] = c->to_linear((in[i] * 876.0 + 64.0) / 1023.0);
	for (int i = 0; i < 3; i++)
		out[i] = display(m[i][0] * lin[0] + m[i][1] * lin[1] + m[i][2] * lin[2]);
}

void media_lut_eval(const char *curve, const double in[3], double out[3])
{
	const curve_def *c = find_curve(curve);
	if (!c) {
		memcpy(out, in, 3 * sizeof(double));
		return;
	}
	double m[3][3];
	gamut_to_rec709(c, m);
	eval_with(c, m, in, out);
}

int media_lut_write_cube(const char *curve, int size, const char *path)
{
	const curve_def *c = find_curve(curve);
	if (!c)
		return dits_error_set(DITS_EINVALID, "unknown log curve '%s'", curve);
	double m[3][3];
	gamut_to_rec709(c, m);
	FILE *f = fopen(path, "w");
	if (!f)
		return dits_error_errno("%s", path);
	fprintf(f, "# Dits %s -> Rec.709 viewing LUT, computed from the published curve (src/media/lut.c)\n",
	        curve);
	fprintf(f, "LUT_3D_SIZE %d\n", size);
	/* .cube order: red changes fastest, then green, then blue. */
	for (int b = 0; b < size; b++)
		for (int g = 0; g < size; g++)
			for (int r = 0; r < size; r++) {
				double in[3] = {(double)r / (size - 1), (double)g / (size - 1), (double)b / (size - 1)};
				double out[3];
				eval_with(c, m, in, out);
				fprintf(f, "%.6f %.6f %.6f\n", out[0], out[1], out[2]);
			}
	if (fclose(f) != 0)
		return dits_error_errno("%s", path);
	return 0;
}
