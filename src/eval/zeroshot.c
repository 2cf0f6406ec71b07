/* The zero-shot classifier from class names and templates, and its logits. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bcos/check.h"
#include "bcos/eval.h"

const char *const BCOS_DEFAULT_TEMPLATE = "a photo of a {c}.";

char *bcos_replace_all(const char *text, const char *mark, const char *value) {
    size_t mark_len = strlen(mark), value_len = strlen(value), count = 0;
    for (const char *at = strstr(text, mark); at; at = strstr(at + mark_len, mark)) count++;
    char *out = xmalloc(strlen(text) + count * value_len + 1), *w = out;
    const char *at = text, *next;
    while ((next = strstr(at, mark))) {
        memcpy(w, at, (size_t)(next - at));
        w += next - at;
        memcpy(w, value, value_len);
        w += value_len;
        at = next + mark_len;
    }
    strcpy(w, at);
    return out;
}

char *bcos_fill_template(const char *template_text, const char *name) {
    return strstr(template_text, "{c}") ? bcos_replace_all(template_text, "{c}", name) : NULL;
}

void bcos_l2_normalize_rows(float *x, int N, int D) {
    for (int i = 0; i < N; i++) {
        float *row = x + (size_t)i * D;
        double ss = 0;
        for (int d = 0; d < D; d++) ss += (double)row[d] * row[d];
        if (ss == 0) continue;
        float inv = (float)(1.0 / sqrt(ss));
        for (int d = 0; d < D; d++) row[d] *= inv;
    }
}

/* Prompts per text-tower call, at least: the tower reads all its weights once per call, so a call of
 * one class's few templates is bound by memory; several classes at once make its GEMMs wide. */
#define CLASSIFIER_PROMPTS 256

int bcos_zeroshot_classifier(float *classifier, const bcos_clip *m, const bcos_tokenizer *tok,
                             const char *const *classes, int K, const char *const *templates, int NT, char *err,
                             size_t errlen) {
    int E = m->cfg.embed_dim, L = m->cfg.context_length;
    int per_call = NT >= CLASSIFIER_PROMPTS ? 1 : CLASSIFIER_PROMPTS / NT; /* classes */
    if (per_call > K) per_call = K;
    int32_t *ids = xmalloc((size_t)per_call * NT * L * sizeof(int32_t));
    float *emb = xmalloc((size_t)per_call * NT * E * sizeof(float));
    for (int k0 = 0; k0 < K; k0 += per_call) {
        int n = K - k0 < per_call ? K - k0 : per_call;
        for (int p = 0; p < n * NT; p++) {
            char *prompt = bcos_fill_template(templates[p % NT], classes[k0 + p / NT]);
            if (!prompt) {
                snprintf(err, errlen, "template '%s' has no '{c}' for the class name", templates[p % NT]);
                free(emb);
                free(ids);
                return -1;
            }
            bcos_tokenize(tok, prompt, L, ids + (size_t)p * L);
            free(prompt);
        }
        bcos_clip_encode_text(m, emb, ids, n * NT);
        bcos_l2_normalize_rows(emb, n * NT, E);
        for (int j = 0; j < n; j++) {
            const float *class_emb = emb + (size_t)j * NT * E;
            float *row = classifier + (size_t)(k0 + j) * E;
            for (int d = 0; d < E; d++) {
                double sum = 0;
                for (int t = 0; t < NT; t++) sum += class_emb[(size_t)t * E + d];
                row[d] = (float)(sum / NT);
            }
            bcos_l2_normalize_rows(row, 1, E);
        }
    }
    free(emb);
    free(ids);
    return 0;
}

void bcos_zeroshot_logits(float *logits, const float *image_emb, const float *classifier, int B, int K, int E) {
    float *img = xmalloc((size_t)B * E * sizeof(float));
    memcpy(img, image_emb, (size_t)B * E * sizeof(float));
    bcos_l2_normalize_rows(img, B, E);
    for (int b = 0; b < B; b++)
        for (int k = 0; k < K; k++) {
            double dot = 0;
            for (int d = 0; d < E; d++) dot += (double)img[(size_t)b * E + d] * classifier[(size_t)k * E + d];
            logits[(size_t)b * K + k] = (float)(100.0 * dot);
        }
    free(img);
}

void bcos_topk(int *out, const float *x, int n, int k) {
    for (int j = 0; j < k; j++) {
        int best = -1;
        for (int i = 0; i < n; i++) {
            int taken = 0;
            for (int q = 0; q < j && !taken; q++) taken = out[q] == i;
            if (!taken && (best < 0 || x[i] > x[best])) best = i;
        }
        out[j] = best;
    }
}
