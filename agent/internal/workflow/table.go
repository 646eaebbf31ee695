package workflow

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteTable prints metadata as readable tables (the CLI's `workflow inspect`).
func WriteTable(w io.Writer, md *Metadata) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := func(format string, args ...any) { fmt.Fprintf(tw, format, args...) }
	format := md.Format
	if md.Wrapper != "" {
		format += " (inside " + md.Wrapper + ")"
	}
	active, inactive := 0, 0
	for _, n := range md.Nodes {
		if n.Muted || n.Bypassed {
			inactive++
		} else {
			active++
		}
	}
	p("Format:\t%s\n", format)
	p("Workflow type:\t%s\n", md.WorkflowType)
	p("Tags:\t%s\n", orNone(strings.Join(md.Tags, ", ")))
	p("Nodes:\t%d (%d muted or bypassed)\n", active+inactive, inactive)
	p("Estimated VRAM:\t%s (minimum %s with offloading; family %s, %dx%d", mb(md.EstimatedVRAM), mb(md.VRAM.MinimumMB),
		md.VRAM.Family, md.VRAM.Width, md.VRAM.Height)
	if md.VRAM.Frames > 0 {
		p(", %d frames", md.VRAM.Frames)
	}
	p(", batch %d)\n", md.VRAM.Batch)
	p("\n")
	p("MODELS\tFOLDER\tNODE\tSIZE\tSTATUS\n")
	if len(md.RequiredModels)+len(md.InactiveModels) == 0 {
		p("(none)\t\t\t\t\n")
	}
	for _, m := range md.RequiredModels {
		status := "required"
		if m.AutoDownload {
			status = "auto-download"
		}
		if m.URL != "" {
			status += ", url known"
		}
		p("%s\t%s\t%s\t%s\t%s\n", m.Filename, orDash(m.Folder), nodeRef(m), size(m.Size), status)
	}
	for _, m := range md.InactiveModels {
		p("%s\t%s\t%s\t%s\t%s (not required)\n", m.Filename, orDash(m.Folder), nodeRef(m), size(m.Size), m.InactiveReason)
	}
	p("\n")
	p("CUSTOM NODE PACK\tRESOLVED BY\tNODE TYPES\t\t\n")
	if len(md.RequiredCustomNodes)+len(md.InactiveCustomNodes) == 0 {
		p("(none)\t\t\t\t\n")
	}
	for _, pk := range md.RequiredCustomNodes {
		p("%s\t%s\t%s\t\t\n", packName(pk), pk.ResolvedBy, strings.Join(pk.NodeTypes, ", "))
	}
	for _, pk := range md.InactiveCustomNodes {
		p("%s\t%s\t%s (inactive)\t\t\n", packName(pk), pk.ResolvedBy, strings.Join(pk.NodeTypes, ", "))
	}
	if len(md.UnresolvedNodeTypes) > 0 {
		p("\nUnresolved node types:\t%s\n", strings.Join(md.UnresolvedNodeTypes, ", "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(md.Warnings) > 0 {
		fmt.Fprintln(w, "\nWarnings:")
		for _, s := range md.Warnings {
			fmt.Fprintf(w, "  - %s\n", s)
		}
	}
	return nil
}

func nodeRef(m ModelRef) string {
	if m.NodeType == "" {
		return "(" + m.Source + ")"
	}
	return m.NodeType + " #" + orDash(m.NodeID)
}

func packName(p PackRef) string {
	if p.Repo != "" {
		return p.Repo
	}
	return "registry:" + p.CnrID
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func mb(v int64) string {
	if v <= 0 {
		return "unknown"
	}
	return fmt.Sprintf("%.1f GB", float64(v)/1024)
}

func size(b int64) string {
	switch {
	case b <= 0:
		return "?"
	case b >= 1<<30:
		return fmt.Sprintf("%.2f GB", float64(b)/(1<<30))
	default:
		return fmt.Sprintf("%.0f MB", float64(b)/(1<<20))
	}
}
