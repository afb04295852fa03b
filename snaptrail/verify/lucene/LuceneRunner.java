// Test-only checker: evaluates Elasticsearch `query_string` (Lucene syntax) queries with real Apache Lucene 8
// (Debian package liblucene8-java), offline, against a handful of documents held in memory.
//
// What this IMITATES of Elasticsearch (it is not Elasticsearch; see the notes on each piece):
//   * Parsing: org.apache.lucene.queryparser.classic.QueryParser, which ES's QueryStringQueryParser extends,
//     with leading wildcards allowed and default operator OR (the query_string defaults). The small subclass
//     below copies three ES overrides: negative-only boolean queries get a match-all clause
//     (Queries.fixNegativeQueryIfNeeded, applied in getBooleanQuery and once more at the top like
//     QueryStringQueryBuilder.doToQuery), one-sided ranges `f:>x`, `f:>=x`, `f:<x`, `f:<=x`, and an empty
//     query string matches nothing.
//   * Mapping: every field is an ES `keyword`: untokenized and case-sensitive (KeywordAnalyzer at index and
//     query time). Numbers and booleans arrive as their string form ("22", "true"); there are no numeric or
//     date field types, so ranges compare strings lexicographically (ES would compare numbers numerically).
//   * Arrays: a multi-valued field gets one indexed value per element, as ES indexes arrays (and arrays of
//     objects, flattened to dotted names, which is what the Python side sends).
//   * `_exists_:f`: ES answers it from its `_field_names` metadata field. Here every document gets a field
//     `_exists_` holding each field name it has AND every dotted prefix of it, so an object path such as
//     `aws.cloudtrail.flattened.request_parameters` exists when any of its sub-keys does (ES's exists query on
//     an object field). Wildcards in the name (`_exists_:aws.*`) then work as a wildcard over those names.
//   * Default field: ES's index.query.default_field is `*` (all fields). Every value is therefore also
//     indexed into a catch-all field literally named `*`, which is the parser's default field: an unfielded
//     term matches a document when any field holds it. Field-name patterns other than `*` (`aws.*:x`) are
//     NOT expanded as ES would; Lucene just looks for a field with that literal name.
//   * Regexps `f:/.../` go through Lucene's RegexpQuery (anchored at both ends, `^`/`$` are not operators),
//     which is also what ES does.
//
// Protocol (UTF-8, one record per line on stdin; every column escaped: `\\` `\t` `\n` `\r`):
//   D <tab> docid                 starts a document (documents may have no fields)
//   F <tab> field <tab> value     adds one value to the latest document (repeat for multi-values)
//   Q <tab> qid <tab> query       a query (all queries run against all documents)
// Output on stdout, one line per query, in input order, columns escaped the same way:
//   qid <tab> OK [<tab> docid]...     the matching documents, in input order
//   qid <tab> ERROR <tab> message     Lucene's parse (or query construction) error
// Exit status 0 when the input was well formed (query errors included); 2 with a message on stderr otherwise.
import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.apache.lucene.analysis.Analyzer;
import org.apache.lucene.analysis.core.KeywordAnalyzer;
import org.apache.lucene.index.memory.MemoryIndex;
import org.apache.lucene.queryparser.classic.ParseException;
import org.apache.lucene.queryparser.classic.QueryParser;
import org.apache.lucene.search.BooleanClause;
import org.apache.lucene.search.BooleanQuery;
import org.apache.lucene.search.BoostQuery;
import org.apache.lucene.search.IndexSearcher;
import org.apache.lucene.search.MatchAllDocsQuery;
import org.apache.lucene.search.MatchNoDocsQuery;
import org.apache.lucene.search.Query;

public final class LuceneRunner {
    static final String EXISTS_FIELD = "_exists_";
    static final String ALL_FIELD = "*";

    /** Input problems are the caller's bug, not a query result: they end the run with exit status 2. */
    static final class BadInput extends Exception {
        private static final long serialVersionUID = 1L;

        BadInput(String message) {
            super(message);
        }
    }

    /** The ES behaviours layered on the classic parser (see the header comment). */
    static final class EsLikeQueryParser extends QueryParser {
        EsLikeQueryParser(Analyzer analyzer) {
            super(ALL_FIELD, analyzer);
            setAllowLeadingWildcard(true);
            setDefaultOperator(QueryParser.Operator.OR);
        }

        @Override
        public Query parse(String query) throws ParseException {
            if (query.trim().isEmpty()) {
                return new MatchNoDocsQuery("empty query string");
            }
            Query parsed = super.parse(query);
            if (parsed == null) {
                return new MatchNoDocsQuery("no terms");
            }
            List<Float> boosts = new ArrayList<>();
            while (parsed instanceof BoostQuery) {
                boosts.add(((BoostQuery) parsed).getBoost());
                parsed = ((BoostQuery) parsed).getQuery();
            }
            parsed = addMatchAllIfOnlyNegative(parsed);
            for (int i = boosts.size() - 1; i >= 0; i--) {
                parsed = new BoostQuery(parsed, boosts.get(i));
            }
            return parsed;
        }

        @Override
        protected Query getBooleanQuery(List<BooleanClause> clauses) throws ParseException {
            Query q = super.getBooleanQuery(clauses);
            return q == null ? null : addMatchAllIfOnlyNegative(q);
        }

        @Override
        protected Query getFieldQuery(String field, String text, boolean quoted) throws ParseException {
            if (!quoted && field != null && text.length() > 1) {
                if (text.startsWith(">=") && text.length() > 2) {
                    return getRangeQuery(field, text.substring(2), null, true, true);
                }
                if (text.startsWith(">")) {
                    return getRangeQuery(field, text.substring(1), null, false, true);
                }
                if (text.startsWith("<=") && text.length() > 2) {
                    return getRangeQuery(field, null, text.substring(2), true, true);
                }
                if (text.startsWith("<")) {
                    return getRangeQuery(field, null, text.substring(1), true, false);
                }
            }
            return super.getFieldQuery(field, text, quoted);
        }
    }

    /** ES's Queries.fixNegativeQueryIfNeeded: a boolean query made only of MUST_NOT clauses also gets a
     *  match-all FILTER clause, so `NOT _exists_:x` means "all documents except...". Plain Lucene would
     *  match nothing. */
    static Query addMatchAllIfOnlyNegative(Query q) {
        if (!(q instanceof BooleanQuery)) {
            return q;
        }
        BooleanQuery bq = (BooleanQuery) q;
        if (bq.clauses().isEmpty()) {
            return q;
        }
        for (BooleanClause c : bq.clauses()) {
            if (c.getOccur() != BooleanClause.Occur.MUST_NOT) {
                return q;
            }
        }
        BooleanQuery.Builder b = new BooleanQuery.Builder();
        b.setMinimumNumberShouldMatch(bq.getMinimumNumberShouldMatch());
        for (BooleanClause c : bq.clauses()) {
            b.add(c);
        }
        b.add(new MatchAllDocsQuery(), BooleanClause.Occur.FILTER);
        return b.build();
    }

    static final class Doc {
        final String id;
        final List<String[]> fields = new ArrayList<>();
        IndexSearcher searcher;

        Doc(String id) {
            this.id = id;
        }
    }

    public static void main(String[] args) throws IOException {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        Writer out = new BufferedWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8));
        try {
            run(in, out);
        } catch (BadInput e) {
            System.err.println("LuceneRunner: bad input: " + e.getMessage());
            System.exit(2);
        }
        out.flush();
    }

    static void run(BufferedReader in, Writer out) throws IOException, BadInput {
        Map<String, Doc> docs = new LinkedHashMap<>();
        Map<String, String> queries = new LinkedHashMap<>();
        Doc current = null;
        String line;
        int lineNo = 0;
        while ((line = in.readLine()) != null) {
            lineNo++;
            if (line.isEmpty()) {
                continue;
            }
            String[] cols = line.split("\t", -1);
            for (int i = 1; i < cols.length; i++) {
                cols[i] = unescape(cols[i], lineNo);
            }
            if (cols[0].equals("D") && cols.length == 2) {
                current = new Doc(cols[1]);
                if (docs.put(current.id, current) != null) {
                    throw new BadInput("line " + lineNo + ": duplicate document id " + current.id);
                }
            } else if (cols[0].equals("F") && cols.length == 3) {
                if (current == null) {
                    throw new BadInput("line " + lineNo + ": field before any document");
                }
                if (cols[1].isEmpty() || cols[1].equals(EXISTS_FIELD) || cols[1].equals(ALL_FIELD)) {
                    throw new BadInput("line " + lineNo + ": reserved or empty field name '" + cols[1] + "'");
                }
                current.fields.add(new String[] {cols[1], cols[2]});
            } else if (cols[0].equals("Q") && cols.length == 3) {
                if (queries.put(cols[1], cols[2]) != null) {
                    throw new BadInput("line " + lineNo + ": duplicate query id " + cols[1]);
                }
            } else {
                throw new BadInput("line " + lineNo + ": unknown record '" + cols[0] + "' with " + cols.length
                        + " columns");
            }
        }

        Analyzer keyword = new KeywordAnalyzer();
        for (Doc d : docs.values()) {
            d.searcher = index(d, keyword);
        }

        for (Map.Entry<String, String> q : queries.entrySet()) {
            StringBuilder row = new StringBuilder(escape(q.getKey()));
            try {
                // A fresh parser per query: QueryParser keeps state between parse() calls.
                Query parsed = new EsLikeQueryParser(keyword).parse(q.getValue());
                StringBuilder hits = new StringBuilder();
                for (Doc d : docs.values()) {
                    if (d.searcher.count(parsed) > 0) {
                        hits.append('\t').append(escape(d.id));
                    }
                }
                row.append("\tOK").append(hits);
            } catch (ParseException e) {
                row.append("\tERROR\t").append(escape(e.getMessage()));
            } catch (RuntimeException e) {
                // e.g. an invalid regexp (IllegalArgumentException) or a too complex automaton: ES rejects
                // those queries too.
                row.append("\tERROR\t").append(escape(e.getClass().getSimpleName() + ": " + e.getMessage()));
            }
            out.write(row.append('\n').toString());
        }
    }

    /** One MemoryIndex per document; every value is a single untokenized, case-sensitive term. */
    static IndexSearcher index(Doc d, Analyzer keyword) {
        MemoryIndex mi = new MemoryIndex();
        Set<String> existing = new LinkedHashSet<>();
        for (String[] fv : d.fields) {
            mi.addField(fv[0], fv[1], keyword);
            mi.addField(ALL_FIELD, fv[1], keyword);
            String name = fv[0];
            existing.add(name);
            for (int dot = name.lastIndexOf('.'); dot > 0; dot = name.lastIndexOf('.', dot - 1)) {
                existing.add(name.substring(0, dot));
            }
        }
        for (String name : existing) {
            mi.addField(EXISTS_FIELD, name, keyword);
        }
        mi.freeze();
        IndexSearcher searcher = mi.createSearcher();
        searcher.setQueryCache(null);
        return searcher;
    }

    static String escape(String s) {
        StringBuilder b = new StringBuilder(s.length() + 8);
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '\\': b.append("\\\\"); break;
                case '\t': b.append("\\t"); break;
                case '\n': b.append("\\n"); break;
                case '\r': b.append("\\r"); break;
                default: b.append(c);
            }
        }
        return b.toString();
    }

    static String unescape(String s, int lineNo) throws BadInput {
        if (s.indexOf('\\') < 0) {
            return s;
        }
        StringBuilder b = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c != '\\') {
                b.append(c);
                continue;
            }
            if (++i == s.length()) {
                throw new BadInput("line " + lineNo + ": dangling backslash");
            }
            switch (s.charAt(i)) {
                case '\\': b.append('\\'); break;
                case 't': b.append('\t'); break;
                case 'n': b.append('\n'); break;
                case 'r': b.append('\r'); break;
                default: throw new BadInput("line " + lineNo + ": unknown escape \\" + s.charAt(i));
            }
        }
        return b.toString();
    }
}
